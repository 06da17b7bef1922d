package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// metric is one numeric field of the report.
type metric struct {
	key, unit, what string
}

// stageName is the stage a migrate_stage_NAME_us field gives: such fields
// go into the JSON object migrate_stages_us under their names instead.
func stageName(key string) (string, bool) {
	name, ok := strings.CutPrefix(key, "migrate_stage_")
	return strings.TrimSuffix(name, "_us"), ok
}

// metrics are the report's numeric fields, in output order. The keys are
// issue 5's JSON field names.
var metrics = []metric{
	{"floor_fuse_fault_us", "µs", "one-page READ fault on a trivial go-fuse file (min p50 of rounds)"},
	{"floor_rtt_4k_us", "µs", "TCP round trip, 16 B request, 4 KiB reply, two processes (min p50 of rounds)"},
	{"floor_relay_us", "µs", "READ fault on a trivial go-fuse file whose handler makes one 16 B / 4 KiB TCP round trip to another process (min p50 of rounds)"},
	{"floor_inval_clean_us", "µs", "kernel invalidation of a clean cached page (min p50 of rounds)"},
	{"floor_inval_dirty_us", "µs", "kernel invalidation of a dirty page, with its write-back (min p50 of rounds)"},
	{"tmpfs_access_ns_per_page", "ns", "first write to each page of a fresh memfd MAP_SHARED mapping (min of rounds)"},
	{"migrate_clean_p50_us", "µs", "access on B to a page A owns, cached clean on A: p50"},
	{"migrate_clean_p99_us", "µs", "same, p99"},
	{"migrate_stage_kernel_us", "µs", "stage: fault → handler and reply → program (program's p50 - handler's wait)"},
	{"migrate_stage_send_us", "µs", "stage: B's handler → request handed to the transport"},
	{"migrate_stage_wire_us", "µs", "stage: on the wire and waking, both ways (B's wait for the page - A's work)"},
	{"migrate_stage_owner_us", "µs", "stage: A, request arrived → page handed to the transport (invalidation included)"},
	{"migrate_stage_install_us", "µs", "stage: B, page arrived → handler woken with it"},
	{"migrate_stages_sum_ratio", "×", "sum of the stages / migrate_clean_p50 (medians of different samples; target within 0.8-1.2)"},
	{"migrate_dirty_p50_us", "µs", "access on B to a page a program on A dirtied: p50"},
	{"migrate_dirty_p99_us", "µs", "same, p99"},
	{"owned_access_ns_per_page", "ns", "first write to each page this node owns and no program here touched"},
	{"owned_rewrite_ns_per_page", "ns", "one node: rewriting a 128 MiB working set of owned pages, per page and pass"},
	{"memfd_rewrite_ns_per_page", "ns", "the same on a memfd MAP_SHARED mapping"},
	{"seq_first_touch_mb_s", "MB/s", "sequential write sweep over remote pages"},
	{"pingpong_handoffs_per_s", "1/s", "two programs, two nodes, strict turns on one page, --hold 0"},
	{"contended_incr_per_s", "1/s", "two programs, two nodes, atomic increments of one counter, default hold"},
	{"contended_fairness", "", "smaller node's increments / larger node's"},
	{"random_8node_faults_per_s", "1/s", "one program per node writing random pages it does not hold"},
	{"ro_copy_fetch_p50_us", "µs", "read on B through segment.ro of a page A owns, clean: a read copy fetched, p50"},
	{"ro_reread_ns_per_page", "ns", "B reading again through segment.ro pages it holds as read copies"},
	{"ro_invalidate_1_p50_us", "µs", "write on A through segment to its page 1 other node holds a copy of (2 nodes): p50"},
	{"ro_invalidate_3_p50_us", "µs", "same with 3 copies (4 nodes): p50"},
	{"read_shared_ratio", "×", "A and B taking turns reading the same 200 pages: time through segment.ro / through segment"},
	{"daemon_rss_mib", "MiB", "largest daemon peak RSS (VmHWM) of the run"},
	{"migrate_clean_ratio", "×", "migrate_clean_p50 / (fuse fault + rtt + clean invalidation); target <= 1.5"},
	{"migrate_relay_ratio", "×", "migrate_clean_p50 / floor_relay: what dsmfs adds to a fault that fetches a page; target <= 1.3"},
	{"migrate_clean_tail", "×", "migrate_clean_p99 / migrate_clean_p50; target <= 3"},
	{"migrate_dirty_ratio", "×", "migrate_dirty_p50 / (fuse fault + rtt + dirty invalidation); target <= 1.5"},
	{"owned_access_ratio", "×", "owned_access / tmpfs_access; target <= 1.2"},
	{"owned_rewrite_ratio", "×", "owned_rewrite / memfd_rewrite; target <= 1.3"},
}

// Machine is where the run happened.
type Machine struct {
	Cores  int    `json:"cores"`
	Kernel string `json:"kernel"`
}

// Settings are the cluster settings the numbers were measured with.
type Settings struct {
	// Nodes is the node count of the random run; the other parts use two.
	Nodes int `json:"nodes"`
	Pages int `json:"pages"`
	// Block is the migration block seq_first_touch ran with: 1 when the
	// daemon has no --block, whatever was asked.
	Block int `json:"block"`
	// Prefetch is the --prefetch of the sequential sweep's daemons.
	Prefetch int `json:"prefetch"`
	// Hold is the daemon's default hold window (migration, contention,
	// random); ping-pong always runs with PingpongHold.
	Hold         string `json:"hold"`
	PingpongHold string `json:"pingpong_hold"`
}

// Result is one run's report. Values holds only what was measured.
type Result struct {
	Values   map[string]float64
	Machine  Machine
	Settings Settings
}

func newResult() *Result { return &Result{Values: map[string]float64{}} }

func (r *Result) set(key string, v float64) { r.Values[key] = v }

// addRatios derives the ratio fields from the measured ones; a ratio whose
// inputs are missing is left out.
func (r *Result) addRatios() {
	v := r.Values
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := v[k]; !ok {
				return false
			}
		}
		return true
	}
	for _, kind := range []string{"clean", "dirty"} {
		p50, inval := "migrate_"+kind+"_p50_us", "floor_inval_"+kind+"_us"
		if has(p50, "floor_fuse_fault_us", "floor_rtt_4k_us", inval) {
			r.set("migrate_"+kind+"_ratio", v[p50]/(v["floor_fuse_fault_us"]+v["floor_rtt_4k_us"]+v[inval]))
		}
	}
	if has("migrate_clean_p50_us", "floor_relay_us") {
		r.set("migrate_relay_ratio", v["migrate_clean_p50_us"]/v["floor_relay_us"])
	}
	if has("migrate_clean_p50_us", "migrate_clean_p99_us") {
		r.set("migrate_clean_tail", v["migrate_clean_p99_us"]/v["migrate_clean_p50_us"])
	}
	if has("owned_access_ns_per_page", "tmpfs_access_ns_per_page") {
		r.set("owned_access_ratio", v["owned_access_ns_per_page"]/v["tmpfs_access_ns_per_page"])
	}
	if has("owned_rewrite_ns_per_page", "memfd_rewrite_ns_per_page") {
		r.set("owned_rewrite_ratio", v["owned_rewrite_ns_per_page"]/v["memfd_rewrite_ns_per_page"])
	}
}

// MarshalJSON writes the measured fields in metrics order, then the machine
// and the settings.
func (r *Result) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	var stages bytes.Buffer
	for _, m := range metrics {
		v, ok := r.Values[m.key]
		stage, isStage := stageName(m.key)
		switch {
		case !ok:
		case isStage:
			fmt.Fprintf(&stages, "%q:%s,", stage, strconv.FormatFloat(round4(v), 'f', -1, 64))
		default:
			fmt.Fprintf(&b, "%q:%s,", m.key, strconv.FormatFloat(round4(v), 'f', -1, 64))
		}
	}
	if stages.Len() > 0 {
		stages.Truncate(stages.Len() - 1)
		fmt.Fprintf(&b, "%q:{%s},", "migrate_stages_us", stages.String())
	}
	for _, part := range []struct {
		key string
		v   any
	}{{"machine", r.Machine}, {"settings", r.Settings}} {
		j, err := json.Marshal(part.v)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%q:%s,", part.key, j)
	}
	b.Truncate(b.Len() - 1)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// round4 keeps four significant digits: more would claim a precision a
// shared machine does not have.
func round4(v float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	return f
}

// writeTable prints the measured fields, one per line.
func (r *Result) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "machine: %d cores, kernel %s\n", r.Machine.Cores, r.Machine.Kernel)
	s := r.Settings
	fmt.Fprintf(tw, "settings: pages %d, block %d, prefetch %d, hold %s (ping-pong %s), random run %d nodes\n\n", s.Pages, s.Block, s.Prefetch, s.Hold, s.PingpongHold, s.Nodes)
	for _, m := range metrics {
		if v, ok := r.Values[m.key]; ok {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.key, strconv.FormatFloat(round4(v), 'f', -1, 64), m.unit, m.what)
		}
	}
	return tw.Flush()
}

// newSince lists the fields measured since before was copied, for progress.
func (r *Result) newSince(before map[string]float64) string {
	var parts []string
	for _, m := range metrics {
		v, ok := r.Values[m.key]
		if _, old := before[m.key]; ok && !old {
			parts = append(parts, fmt.Sprintf("%s %s %s", m.key, strconv.FormatFloat(round4(v), 'f', -1, 64), m.unit))
		}
	}
	return strings.Join(parts, ", ")
}
