package bench

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {0, 1}, {0.5, 1}} {
		if got := percentile(s, c.q); got != c.want {
			t.Errorf("p%v of 1..100 = %v, want %v", c.q, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v, want 0", got)
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one sample = %v, want it", got)
	}
}

func TestSummarizeSortsAndKeepsTotal(t *testing.T) {
	s := summarize([]time.Duration{30, 10, 20, 40}, 123)
	if s.Count != 4 || s.P50Ns != 20 || s.P99Ns != 40 || s.TotalNs != 123 {
		t.Errorf("summarize = %+v", s)
	}
}

func TestFloorIsMinimumOverRounds(t *testing.T) {
	var r rounds
	if _, ok := r.floor(); ok {
		t.Error("a floor with no rounds claims a value")
	}
	for _, v := range []float64{30, 12.5, 40} {
		r.add(v)
	}
	if v, ok := r.floor(); !ok || v != 12.5 {
		t.Errorf("floor = %v %v, want 12.5", v, ok)
	}
}

func TestRatios(t *testing.T) {
	r := newResult()
	for k, v := range map[string]float64{
		"floor_fuse_fault_us": 20, "floor_rtt_4k_us": 15, "floor_inval_clean_us": 5, "floor_inval_dirty_us": 25,
		"migrate_clean_p50_us": 60, "migrate_dirty_p50_us": 90,
		"owned_access_ns_per_page": 300, "tmpfs_access_ns_per_page": 250,
	} {
		r.set(k, v)
	}
	r.addRatios()
	for k, want := range map[string]float64{"migrate_clean_ratio": 1.5, "migrate_dirty_ratio": 1.5, "owned_access_ratio": 1.2} {
		if got := r.Values[k]; math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
}

func TestRatioLeftOutWithoutItsInputs(t *testing.T) {
	r := newResult()
	r.set("migrate_clean_p50_us", 60)
	r.set("floor_fuse_fault_us", 20)
	r.addRatios()
	for _, k := range []string{"migrate_clean_ratio", "migrate_dirty_ratio", "owned_access_ratio"} {
		if _, ok := r.Values[k]; ok {
			t.Errorf("%s computed from missing floors", k)
		}
	}
}

func TestJSONHasEveryFieldInOrder(t *testing.T) {
	r := newResult()
	for i, m := range metrics {
		r.set(m.key, float64(i+1))
	}
	r.Machine = Machine{Cores: 2, Kernel: "6.1"}
	r.Settings = Settings{Nodes: 8, Pages: 16384, Block: 1, Hold: "1ms", PingpongHold: "0s"}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	// Issue 5's fields, spelled out here so that renaming one in metrics
	// fails the test.
	for _, k := range []string{
		"floor_fuse_fault_us", "floor_rtt_4k_us", "floor_inval_clean_us", "floor_inval_dirty_us", "tmpfs_access_ns_per_page",
		"migrate_clean_p50_us", "migrate_clean_p99_us", "migrate_dirty_p50_us", "migrate_dirty_p99_us",
		"owned_access_ns_per_page", "seq_first_touch_mb_s", "pingpong_handoffs_per_s",
		"contended_incr_per_s", "contended_fairness", "random_8node_faults_per_s",
		"ro_copy_fetch_p50_us", "ro_reread_ns_per_page", "ro_invalidate_1_p50_us", "ro_invalidate_3_p50_us", "read_shared_ratio",
		"daemon_rss_mib",
		"migrate_clean_ratio", "migrate_dirty_ratio", "owned_access_ratio", "machine", "settings",
		"floor_relay_us", "migrate_relay_ratio", "migrate_stages_us", "owned_rewrite_ns_per_page",
	} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %s", k)
		}
	}
	stages := 0
	for _, m := range metrics {
		if _, ok := stageName(m.key); ok {
			stages++
		}
	}
	if want := len(metrics) - stages + 1 + 2; len(got) != want {
		t.Errorf("JSON has %d fields, want %d", len(got), want)
	}
	if st, _ := got["migrate_stages_us"].(map[string]any); len(st) != 5 || st["owner"] == nil {
		t.Errorf("migrate_stages_us: %v, want the five stages", got["migrate_stages_us"])
	}
	if !strings.HasPrefix(string(out), `{"floor_fuse_fault_us":1,`) {
		t.Errorf("fields not in metrics order: %s", out)
	}
}

func TestJSONLeavesOutWhatWasNotMeasured(t *testing.T) {
	r := newResult()
	r.set("contended_fairness", 0) // a measured zero is a value
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["contended_fairness"]; !ok {
		t.Error("a measured zero was dropped")
	}
	if _, ok := got["migrate_clean_p50_us"]; ok {
		t.Error("an unmeasured field appears")
	}
}

func TestLayoutRegionsAreDisjointAndAligned(t *testing.T) {
	for _, c := range []struct{ pages, block int }{{16384, 1}, {16384, 16}, {1024, 1}, {1024, 16}, {1 << 18, 64}} {
		l, err := newLayout(c.pages, c.block)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		half := c.pages / 2
		if l.seqFirst < 2*l.migrate || l.seqFirst%c.block != 0 || l.seqCount%c.block != 0 || l.seqFirst+l.seqCount > half {
			t.Errorf("%+v: sweep %d+%d overlaps, is unaligned or leaves node 0's half", c, l.seqFirst, l.seqCount)
		}
		if l.ownedFirst < half || l.ownedFirst+l.ownedCount > l.counter || l.counter >= c.pages {
			t.Errorf("%+v: owned %d+%d or counter %d misplaced", c, l.ownedFirst, l.ownedCount, l.counter)
		}
	}
	if _, err := newLayout(100, 1); err == nil {
		t.Error("a segment too small for the layout was accepted")
	}
}

func TestWatchWriterFindsSplitMarkerAndKeepsHeadAndTail(t *testing.T) {
	w := newWatchWriter("msg=mounted")
	w.Write([]byte("level=INFO msg=mou"))
	w.Write([]byte("nted node=0\n"))
	select {
	case <-w.seen:
	default:
		t.Error("marker split across writes not seen")
	}
	w.Write([]byte(strings.Repeat("x", 3*stderrKeep) + "END"))
	text := w.text()
	if !strings.HasPrefix(text, "level=INFO") || !strings.HasSuffix(text, "END") || !strings.Contains(text, "[...]") {
		t.Errorf("kept %d bytes without the head, the tail or the cut mark", len(text))
	}
}

// TestROLayoutFitsInAsPages: the read copy regions are disjoint, and all lie
// in what A owns, a quarter of the pages on the four-node cluster.
func TestROLayoutFitsInAsPages(t *testing.T) {
	for _, pages := range []int{1024, 16384, 1 << 18} {
		l, err := newLayout(pages, 1)
		if err != nil {
			t.Fatal(err)
		}
		ro := newROLayout(l)
		if ro.copies > pages/4 || ro.copies > ro.sharedRO || ro.sharedRO+sharedPages > ro.sharedRW ||
			ro.sharedRW+sharedPages > ro.turnRO || ro.turnRO >= ro.turnRW || ro.turnRW >= pages/2 {
			t.Errorf("pages %d: read copy layout %+v overlaps or leaves A's pages", pages, ro)
		}
	}
}

// TestROWorkerRefusesWrites: a worker mapping segment.ro read-only refuses
// to write, before it maps anything, instead of dying of SIGSEGV.
func TestROWorkerRefusesWrites(t *testing.T) {
	w := &workerFlags{file: "/nonexistent/segment.ro", op: "write", ro: true, count: 1}
	if _, err := mapRange(w); err == nil || !strings.Contains(err.Error(), "-ro") {
		t.Errorf("mapRange with -ro -op write = %v, want the -ro refusal", err)
	}
}
