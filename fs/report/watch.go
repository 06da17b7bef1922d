package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// rate is one row of the watch view: a counter's total and how fast it
// grew over the last interval.
type rate struct {
	name string
	cur  func(Stats) uint64
}

// rates are the counters `dsmfs stats --watch` shows per second.
var rates = []rate{
	{"local accesses", func(s Stats) uint64 { return s.LocalAccesses }},
	{"remote faults", func(s Stats) uint64 { return s.RemoteFaults }},
	{"fault errors", func(s Stats) uint64 { return s.FaultErrors }},
	{"interrupted faults", func(s Stats) uint64 { return s.Interrupted }},
	{"blocks in", func(s Stats) uint64 { return s.PagesIn }},
	{"blocks out", func(s Stats) uint64 { return s.PagesOut }},
	{"bytes in", func(s Stats) uint64 { return s.BytesIn }},
	{"bytes out", func(s Stats) uint64 { return s.BytesOut }},
	{"requests forwarded", func(s Stats) uint64 { return s.RequestsForwarded }},
	{"invalidations", func(s Stats) uint64 { return s.Invalidations }},
	{"syncs", func(s Stats) uint64 { return s.Syncs }},
}

// PrintRates writes cur as `dsmfs stats --watch` shows it: each counter's
// total and its rate per second since prev, taken elapsed before (no
// rates for the first sample, when prev is nil), each peer's traffic the
// same way, and the fault latency.
func (cur Stats) PrintRates(w io.Writer, prev *Stats, elapsed time.Duration) error {
	perSecond := func(now, before uint64) string {
		if prev == nil || elapsed <= 0 || now < before {
			return "-"
		}
		return fmt.Sprintf("%.1f", float64(now-before)/elapsed.Seconds())
	}
	type row struct {
		name       string
		total      uint64
		before     uint64
		hasHistory bool
	}
	var rows []row
	for _, r := range rates {
		rw := row{name: r.name, total: r.cur(cur)}
		if prev != nil {
			rw.before = r.cur(*prev)
		}
		rows = append(rows, rw)
	}
	for _, p := range cur.Peers {
		var was PeerStats
		if prev != nil {
			for _, q := range prev.Peers {
				if q.Node == p.Node {
					was = q
				}
			}
		}
		peer := fmt.Sprintf("peer %d %s (%s)", p.Node, p.Address, p.State)
		rows = append(rows, row{name: peer + " blocks in", total: p.PagesIn, before: was.PagesIn},
			row{name: peer + " blocks out", total: p.PagesOut, before: was.PagesOut})
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r.name))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "node %d %s, pages %d, block %d, owns %d pages\n", cur.Node, cur.Address, cur.Pages, cur.Block, cur.PagesOwned)
	fmt.Fprintf(&b, "%-*s %14s %12s\n", width, "", "total", "per second")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s %14d %12s\n", width, r.name, r.total, perSecond(r.total, r.before))
	}
	fmt.Fprintf(&b, "fault latency p50 %.0f µs, p99 %.0f µs (recent faults)\n", cur.FaultP50Micros, cur.FaultP99Micros)
	_, err := io.WriteString(w, b.String())
	return err
}
