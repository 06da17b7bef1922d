package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// The read copy measurements (issue 11): programs that only read map
// segment.ro, whose pages many nodes hold at once as read copies, and a
// write through segment takes every copy back first.

const (
	// sharedPages and sharedTurns shape read_shared_ratio: two nodes take
	// sharedTurns turns each, a turn reading sharedPages pages.
	sharedPages = 200
	sharedTurns = 20
	// rereadRounds is how many times the reread sweeps its pages.
	rereadRounds = 100
)

// roLayout places the read copy measurements in A's pages: copies of
// [0, copies), then the read-shared regions read through segment.ro and
// through segment, then their two turn pages.
type roLayout struct {
	copies, sharedRO, sharedRW, turnRO, turnRW int
}

func newROLayout(l layout) roLayout {
	return roLayout{
		copies:   l.migrate,
		sharedRO: l.migrate,
		sharedRW: l.migrate + sharedPages,
		turnRO:   l.migrate + 2*sharedPages,
		turnRW:   l.migrate + 2*sharedPages + 1,
	}
}

// roFile is node i's segment.ro.
func (cl *cluster) roFile(i int) string { return filepath.Join(cl.mounts[i], "segment.ro") }

// readCopyStats are the read copy counters of a node's .stats (the JSON of
// fs/report.Stats): the bench checks with them that what it timed really
// were copies fetched and taken back.
type readCopyStats struct {
	Taken   uint64 `json:"read_copies_taken"`
	Revoked uint64 `json:"read_copies_revoked"`
}

func (cl *cluster) readCopyStats(i int) (readCopyStats, error) {
	var st readCopyStats
	b, err := os.ReadFile(filepath.Join(cl.mounts[i], ".stats"))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s/.stats: %w", cl.mounts[i], err)
	}
	return st, nil
}

// readCopies measures on two nodes: B reading A's clean pages through
// segment.ro (each a read copy fetched), B reading them again (copies in
// its page cache), A writing them through segment while B holds the copies
// (each write takes one copy back), and the read-mostly turns.
func readCopies(g *children, cl *cluster, l layout, r *Result) error {
	ro := newROLayout(l)
	// A writes the pages first: a page of zeros moves as a header.
	if _, err := g.measureOne(append([]string{"touch", "-op", "write"}, pageArgs(cl.segment(0), 0, ro.copies)...)...); err != nil {
		return err
	}
	before, err := cl.readCopyStats(1)
	if err != nil {
		return err
	}
	s, err := g.measureOne(append([]string{"touch", "-ro", "-op", "read", "-each"}, pageArgs(cl.roFile(1), 0, ro.copies)...)...)
	if err != nil {
		return err
	}
	after, err := cl.readCopyStats(1)
	if err != nil {
		return err
	}
	if got := after.Taken - before.Taken; got != uint64(ro.copies) {
		return fmt.Errorf("reading %d pages through segment.ro took %d read copies", ro.copies, got)
	}
	r.set("ro_copy_fetch_p50_us", us(s.P50Ns))

	s, err = g.measureOne(append([]string{"reread", "-ro", "-rounds", strconv.Itoa(rereadRounds)}, pageArgs(cl.roFile(1), 0, ro.copies)...)...)
	if err != nil {
		return err
	}
	r.set("ro_reread_ns_per_page", perItem(s))

	p50, err := revokeCopies(g, cl, ro.copies)
	if err != nil {
		return err
	}
	r.set("ro_invalidate_1_p50_us", p50)
	return readShared(g, cl, ro, r)
}

// readCopies3 measures on four nodes A's write through segment to pages
// the three others hold copies of.
func readCopies3(g *children, cl *cluster, l layout, r *Result) error {
	p50, err := revokeCopies(g, cl, newROLayout(l).copies)
	if err != nil {
		return err
	}
	r.set("ro_invalidate_3_p50_us", p50)
	return nil
}

// revokeCopies has every node but A read A's pages [0, n) through
// segment.ro and keep them mapped, then times A's first write to each
// through segment, which takes every copy back first. It returns the p50
// in µs, after checking A took back a copy from each reader.
func revokeCopies(g *children, cl *cluster, n int) (float64, error) {
	var holders [][]string
	for i := 1; i < len(cl.mounts); i++ {
		holders = append(holders, append([]string{"hold", "-ro", "-op", "read"}, pageArgs(cl.roFile(i), 0, n)...))
	}
	before, err := cl.readCopyStats(0)
	if err != nil {
		return 0, err
	}
	sums, err := g.measure(holders, [][]string{append([]string{"touch", "-op", "write", "-each"}, pageArgs(cl.segment(0), 0, n)...)})
	if err != nil {
		return 0, err
	}
	after, err := cl.readCopyStats(0)
	if err != nil {
		return 0, err
	}
	if got, want := after.Revoked-before.Revoked, uint64(n*len(holders)); got < want {
		return 0, fmt.Errorf("writing %d pages that %d nodes read took back %d read copies, want %d", n, len(holders), got, want)
	}
	return us(sums[0].P50Ns), nil
}

// readShared has A write the read-shared pages once, then A and B take
// sharedTurns turns each reading all of them: through segment.ro, where
// the copies stay, and through segment, where every page moves at every
// turn. read_shared_ratio is the first time over the second.
func readShared(g *children, cl *cluster, ro roLayout, r *Result) error {
	if _, err := g.measureOne(append([]string{"touch", "-op", "write"}, pageArgs(cl.segment(0), ro.sharedRO, 2*sharedPages)...)...); err != nil {
		return err
	}
	turns := func(how string, first, page int) (int64, error) {
		var ws [][]string
		for node := range 2 {
			args := []string{"readturns", "-me", strconv.Itoa(node), "-page", strconv.Itoa(page), "-rounds", strconv.Itoa(sharedTurns)}
			if how == "ro" {
				args = append(args, "-ro")
			}
			ws = append(ws, append(args, pageArgs(cl.segment(node), first, sharedPages)...))
		}
		sums, err := g.measure(nil, ws)
		if err != nil {
			return 0, err
		}
		return max(sums[0].TotalNs, sums[1].TotalNs), nil
	}
	viaRO, err := turns("ro", ro.sharedRO, ro.turnRO)
	if err != nil {
		return err
	}
	viaRW, err := turns("rw", ro.sharedRW, ro.turnRW)
	if err != nil {
		return err
	}
	r.set("read_shared_ratio", float64(viaRO)/float64(viaRW))
	return nil
}

// rereadMode reads every page of its range once during set-up (with -ro,
// through segment.ro: fetching the read copies, or finding them cached),
// checks that each is in the page cache, and then times -rounds more reads
// of every page.
func rereadMode(w *workerFlags) (timed, error) {
	w.op = "read"
	m, err := mapRange(w)
	if err != nil {
		return nil, err
	}
	if w.rounds < 1 {
		return nil, fmt.Errorf("-rounds %d: want at least 1", w.rounds)
	}
	end := w.first + w.count
	for p := w.first; p < end; p++ {
		load(m, p)
		if in, err := resident(m, p); err != nil || !in {
			return nil, fmt.Errorf("page %d is not in the page cache after a read (%v)", p, err)
		}
	}
	return func(context.Context) (Summary, error) {
		t0 := time.Now()
		for range w.rounds {
			for p := w.first; p < end; p++ {
				load(m, p)
			}
		}
		return Summary{Count: w.count * w.rounds, TotalNs: int64(time.Since(t0))}, nil
	}, nil
}

// readTurnsMode takes -rounds strict turns with the program of the other
// -me on the turn word at the start of -page of -file (segment): program k
// plays turns 2i+k. A turn reads the first word of every page of its range,
// through -file itself or, with -ro, through -file's segment.ro, mapped
// read-only just above the segment. It reports its reads over the time of
// its timed loop, which starts with the other program's.
func readTurnsMode(w *workerFlags) (timed, error) {
	if w.me != 0 && w.me != 1 {
		return nil, fmt.Errorf("-me %d: want 0 or 1", w.me)
	}
	seg, err := mapAt(w.file)
	if err != nil {
		return nil, err
	}
	pages := len(seg) / pageSize
	if w.first < 0 || w.count < 1 || w.first+w.count > pages || w.page < 0 || w.page >= pages ||
		(w.page >= w.first && w.page < w.first+w.count) {
		return nil, fmt.Errorf("turn page %d and pages %d+%d do not fit apart in %s (%d pages)", w.page, w.first, w.count, w.file, pages)
	}
	data := seg
	if w.ro {
		if data, err = mapFileAt(w.file+".ro", segmentBase+uintptr(len(seg)), true); err != nil {
			return nil, err
		}
	}
	turn := word(seg, w.page*pageSize)
	return func(ctx context.Context) (Summary, error) {
		t0 := time.Now()
		for i := range w.rounds {
			want := uint64(2*i + w.me)
			waited := time.Now()
			for atomic.LoadUint64(turn) < want {
				if time.Since(waited) > giveUp {
					return Summary{}, fmt.Errorf("the other program stopped taking turns (turn %d, want %d)", atomic.LoadUint64(turn), want)
				}
				if ctx.Err() != nil {
					return Summary{}, ctx.Err()
				}
			}
			for p := w.first; p < w.first+w.count; p++ {
				load(data, p)
			}
			atomic.StoreUint64(turn, want+1)
		}
		return Summary{Count: w.rounds * w.count, TotalNs: int64(time.Since(t0))}, nil
	}, nil
}
