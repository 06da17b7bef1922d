package bench

import (
	"fmt"
	"strconv"
	"time"
)

// Durations of the timed loops: long enough for many hand-offs, short
// enough that the whole bench stays well under two minutes.
const (
	pingpongFor  = 2 * time.Second
	contendedFor = 3 * time.Second
	randomFor    = 3 * time.Second
)

// layout places the two-node measurements in disjoint pages, so none sees
// another's leftovers. Node 0 (A) owns [0, pages/2) at start, node 1 (B)
// the rest; programs on B take A's pages.
type layout struct {
	pages int
	// migrate is the page count of each migration measurement: clean
	// pages are [0, migrate), dirty ones [migrate, 2·migrate), on A.
	migrate int
	// seqFirst, seqCount: the sweep over A's pages, aligned to the block.
	seqFirst, seqCount int
	// ownedFirst, ownedCount: B's own pages for the owned first touch.
	ownedFirst, ownedCount int
	// counter is the page of the contended counter and the ping-pong turn.
	counter int
}

// minPages keeps every region of the layout meaningful.
const minPages = 1024

func newLayout(pages, block int) (layout, error) {
	if pages < minPages || pages%2 != 0 {
		return layout{}, fmt.Errorf("--pages %d: the bench needs an even count of at least %d", pages, minPages)
	}
	half := pages / 2
	l := layout{pages: pages, migrate: min(1000, half/8), counter: pages - 1}
	l.seqFirst = (2*l.migrate + block - 1) / block * block
	l.seqCount = min(half-l.seqFirst, 16384) / block * block
	l.ownedFirst = half
	l.ownedCount = min(4096, half-1)
	if l.seqCount < block {
		return layout{}, fmt.Errorf("--pages %d leaves no room for a sweep of --block %d", pages, block)
	}
	return l, nil
}

// pageArgs are a worker's flags for count pages from first of file.
func pageArgs(file string, first, count int) []string {
	return []string{"-file", file, "-first", strconv.Itoa(first), "-count", strconv.Itoa(count)}
}

// migrations measures clean and dirty migration from A to B: a program on
// A touches the pages (reading leaves them clean in A's page cache, writing
// dirty) and keeps them mapped; a program on B then reads each once.
func migrations(g *children, cl *cluster, l layout, r *Result) error {
	// The clean pages get bytes first: a page of zeros moves as a header.
	if _, err := g.measureOne(append([]string{"touch", "-op", "write"}, pageArgs(cl.segment(0), 0, l.migrate)...)...); err != nil {
		return err
	}
	for i, kind := range []string{"clean", "dirty"} {
		op := map[string]string{"clean": "read", "dirty": "write"}[kind]
		first := i * l.migrate
		sums, err := g.measure(
			[][]string{append([]string{"hold", "-op", op}, pageArgs(cl.segment(0), first, l.migrate)...)},
			[][]string{append([]string{"touch", "-op", "read", "-each"}, pageArgs(cl.segment(1), first, l.migrate)...)},
		)
		if err != nil {
			return err
		}
		r.set("migrate_"+kind+"_p50_us", us(sums[0].P50Ns))
		r.set("migrate_"+kind+"_p99_us", us(sums[0].P99Ns))
		if kind == "clean" {
			if err := migrateStages(cl, us(sums[0].P50Ns), r); err != nil {
				return err
			}
		}
	}
	return nil
}

// ownedAccess times the first write to each of B's own pages that no
// program on B touched yet.
func ownedAccess(g *children, cl *cluster, l layout, r *Result) error {
	s, err := g.measureOne(append([]string{"touch", "-op", "write"}, pageArgs(cl.segment(1), l.ownedFirst, l.ownedCount)...)...)
	if err != nil {
		return err
	}
	r.set("owned_access_ns_per_page", perItem(s))
	return nil
}

// rewritePages is the working set of the owned rewrite: 128 MiB, more than
// the kernel's default dirty limit for a FUSE mount (1 % of the dirty
// budget), so that a mount that keeps that limit shows it.
const rewritePages = 32768

// ownedRewrite times rewriting rewritePages owned pages on a one-node
// cluster, and the same on a memfd, in the same run.
func ownedRewrite(g *children, cl *cluster, r *Result) error {
	args := []string{"rewrite", "-rounds", "4", "-count", strconv.Itoa(rewritePages)}
	owned, err := g.measureOne(append(args, "-file", cl.segment(0))...)
	if err != nil {
		return err
	}
	memfd, err := g.measureOne(append(args, "-memfd")...)
	if err != nil {
		return err
	}
	r.set("owned_rewrite_ns_per_page", perItem(owned))
	r.set("memfd_rewrite_ns_per_page", perItem(memfd))
	return nil
}

// seqFirstTouch times a write sweep on B over pages A owns, which a
// program on A wrote first: pages of zeros would move as headers alone.
func seqFirstTouch(g *children, cl *cluster, l layout, r *Result) error {
	if _, err := g.measureOne(append([]string{"touch", "-op", "write"}, pageArgs(cl.segment(0), l.seqFirst, l.seqCount)...)...); err != nil {
		return err
	}
	s, err := g.measureOne(append([]string{"touch", "-op", "write"}, pageArgs(cl.segment(1), l.seqFirst, l.seqCount)...)...)
	if err != nil {
		return err
	}
	r.set("seq_first_touch_mb_s", float64(s.Count)*pageSize/float64(s.TotalNs)*1e3)
	return nil
}

// pingpong runs the strict-turns game on one page between A and B.
func pingpong(g *children, cl *cluster, l layout, r *Result) error {
	game := func(node int) []string {
		return []string{"pingpong", "-file", cl.segment(node), "-page", strconv.Itoa(l.counter), "-me", strconv.Itoa(node), "-dur", pingpongFor.String()}
	}
	sums, err := g.measure(nil, [][]string{game(0), game(1)})
	if err != nil {
		return err
	}
	r.set("pingpong_handoffs_per_s", float64(sums[0].Count)/float64(sums[0].TotalNs)*1e9)
	return nil
}

// contended runs two programs on A and B incrementing one counter.
func contended(g *children, cl *cluster, l layout, r *Result) error {
	incr := func(node int) []string {
		return []string{"incr", "-file", cl.segment(node), "-page", strconv.Itoa(l.counter), "-dur", contendedFor.String()}
	}
	sums, err := g.measure(nil, [][]string{incr(0), incr(1)})
	if err != nil {
		return err
	}
	a, b := float64(sums[0].Count), float64(sums[1].Count)
	r.set("contended_incr_per_s", (a+b)/float64(max(sums[0].TotalNs, sums[1].TotalNs))*1e9)
	if max(a, b) > 0 {
		r.set("contended_fairness", min(a, b)/max(a, b))
	}
	return nil
}

// randomFaults runs one program per node, each writing random pages its
// node does not hold, and reports the cluster's faults per second.
func randomFaults(g *children, cl *cluster, r *Result) error {
	var workers [][]string
	for i := range cl.mounts {
		workers = append(workers, []string{"random", "-file", cl.segment(i), "-seed", strconv.Itoa(i + 1), "-dur", randomFor.String()})
	}
	sums, err := g.measure(nil, workers)
	if err != nil {
		return err
	}
	var faults float64
	var longest int64
	for _, s := range sums {
		faults += float64(s.Count)
		longest = max(longest, s.TotalNs)
	}
	r.set("random_8node_faults_per_s", faults/float64(longest)*1e9)
	return nil
}
