package owner

import (
	"encoding/binary"
	"slices"
)

// simReads plays programs that read through segment.ro, and the kernel's
// segment.ro cache, beside sim's programs that write through segment. A
// read served or cached must see the latest write: a page is writable on
// at most one node, and then no node holds a read copy of it.
type simReads struct {
	store   [][]uint64 // store[n][p]: the write node n's read copy store holds for page p
	stored  [][]bool   // stored[n][p]: it holds one
	cached  [][]uint64 // cached[n][p]: the write n's segment.ro cache holds for p
	mapped  [][]bool   // mapped[n][p]: programs on n read p from the segment.ro cache
	waiting [][]int    // waiting[n][p]: accesses through segment.ro on n waiting for p
	invals  []invalidation
}

func newSimReads(cfg simConfig) simReads {
	var r simReads
	for range cfg.nodes {
		r.store = append(r.store, make([]uint64, cfg.pages))
		r.stored = append(r.stored, make([]bool, cfg.pages))
		r.cached = append(r.cached, make([]uint64, cfg.pages))
		r.mapped = append(r.mapped, make([]bool, cfg.pages))
		r.waiting = append(r.waiting, make([]int, cfg.pages))
	}
	return r
}

// randomStep is one read event: an access through segment.ro, one during a
// read copy's invalidation (which exercises touched), a sweep asking for a
// copy ahead, or a kernel step. It reports whether anything happened.
func (r *simReads) randomStep(s *sim) bool {
	switch k := s.rng.IntN(4); {
	case k == 0 && len(r.invals) > 0:
		iv := r.invals[s.rng.IntN(len(r.invals))]
		r.access(s, iv.node, iv.page)
	case k == 1 && len(r.invals) > 0:
		r.kernelStep(s)
	case k == 2:
		n := NodeID(s.rng.IntN(s.cfg.nodes))
		if !s.running[n] {
			return false
		}
		p := PageID(s.rng.IntN(s.cfg.pages))
		s.logf("node %d asks for a read copy of page %d ahead", n, p)
		s.ms[n].AskRead(p)
		s.apply(n, nil, 0)
	default:
		n := NodeID(s.rng.IntN(s.cfg.nodes))
		if !s.running[n] {
			return false
		}
		r.access(s, n, PageID(s.rng.IntN(s.cfg.pages)))
	}
	return true
}

func (r *simReads) access(s *sim, n NodeID, p PageID) {
	switch res := s.ms[n].AccessRead(p); res {
	case AccessHere:
		s.logf("read page %d on node %d through segment.ro: local", p, n)
		r.read(s, n, p)
	case AccessWaits:
		s.logf("read page %d on node %d through segment.ro: waits", p, n)
		r.waiting[n][p]++
	case AccessClosed:
		if !s.ms[n].closing {
			s.fatalf("node %d refused a read of page %d, but it is not closing", n, p)
		}
	default:
		s.fatalf("read of page %d on node %d failed (%d) with no node lost", p, n, res)
	}
	s.apply(n, nil, 0)
}

// read is a served access through segment.ro: it must see the latest write.
func (r *simReads) read(s *sim, n NodeID, p PageID) {
	w := r.store[n][p]
	switch {
	case s.ms[n].Owns(p):
		w = s.ver[n][p]
	case !r.stored[n][p]:
		s.fatalf("node %d serves a read of page %d with no read copy stored", n, p)
	}
	if w != s.writes[p] {
		s.fatalf("node %d reads page %d at write %d through segment.ro, latest is %d: stale read", n, p, w, s.writes[p])
	}
	r.cached[n][p], r.mapped[n][p] = w, true
}

func (r *simReads) kernelStepIf(s *sim) func() bool {
	return func() bool {
		if len(r.invals) == 0 {
			return false
		}
		r.kernelStep(s)
		return true
	}
}

// kernelStep advances a random invalidation of a read copy by one of its
// two steps: the kernel drops the page from segment.ro, then the driver
// reports InvalidateReadDone.
func (r *simReads) kernelStep(s *sim) {
	i := s.rng.IntN(len(r.invals))
	iv := &r.invals[i]
	if !iv.dropped {
		s.logf("kernel drops page %d from segment.ro on node %d", iv.page, iv.node)
		iv.dropped = true
		r.mapped[iv.node][iv.page] = false
		return
	}
	n, p := iv.node, iv.page
	r.invals = slices.Delete(r.invals, i, i+1)
	s.logf("invalidate read done page %d on node %d", p, n)
	s.ms[n].InvalidateReadDone(p)
	s.apply(n, nil, 0)
}

// apply carries out a read copy action of node n's Ready.
func (r *simReads) apply(s *sim, n NodeID, a Action, in *Message) {
	p := a.Page
	switch a.Kind {
	case ActServeRead:
		if r.waiting[n][p] == 0 && !s.ms[n].cfg.Rejoin {
			s.fatalf("node %d: serve a read of page %d with none waiting", n, p)
		}
		for ; r.waiting[n][p] > 0; r.waiting[n][p]-- {
			r.read(s, n, p)
		}
	case ActTakeReadCopy:
		r.store[n][p], r.stored[n][p] = binary.LittleEndian.Uint64(in.Data), true
	case ActDropReadCopy:
		r.stored[n][p] = false
	case ActInvalidateRead:
		for _, iv := range r.invals {
			if iv.node == n && iv.page == p {
				s.fatalf("node %d: second invalidation of its read copy of page %d before the first is done", n, p)
			}
		}
		r.invals = append(r.invals, invalidation{nodePage: nodePage{n, p}})
	case ActPromoteRead:
		if !r.stored[n][p] {
			s.fatalf("node %d promotes page %d from a read copy it does not store", n, p)
		}
		s.promoteWrite(n, p, r.store[n][p])
	}
}

// check asserts after every step that no program can read a stale page:
// every read copy and every page in a segment.ro cache holds the latest
// write, and a page some node's programs may write has no read copy
// anywhere.
func (r *simReads) check(s *sim) {
	for p := range PageID(s.cfg.pages) {
		writer := -1
		for n := range s.cfg.nodes {
			if s.running[n] && s.mapped[n][p] {
				writer = n
			}
		}
		for n := range NodeID(s.cfg.nodes) {
			if !s.running[n] {
				continue
			}
			m := s.ms[n]
			if r.mapped[n][p] && r.cached[n][p] != s.writes[p] {
				s.fatalf("node %d's segment.ro cache has page %d at write %d, latest is %d", n, p, r.cached[n][p], s.writes[p])
			}
			c := m.readCopies[p]
			if c != nil && c.parked {
				c = nil // kept for recovery, read by nobody
			}
			if c == nil && !r.mapped[n][p] {
				continue
			}
			if writer >= 0 {
				s.fatalf("node %d's programs may write page %d, and node %d has a read copy (cached %v)", writer, p, n, r.mapped[n][p])
			}
			if c != nil && !m.Owns(p) && r.store[n][p] != s.writes[p] {
				s.fatalf("node %d's read copy of page %d holds write %d, latest is %d", n, p, r.store[n][p], s.writes[p])
			}
		}
	}
}

// stop forgets node n's programs and kernel: it stopped.
func (r *simReads) stop(n NodeID) {
	clear(r.waiting[n])
	clear(r.mapped[n])
	r.invals = slices.DeleteFunc(r.invals, func(iv invalidation) bool { return iv.node == n })
}

// forget clears node n's read copy store: it restarted.
func (r *simReads) forget(n NodeID) {
	clear(r.stored[n])
}
