package owner

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrTimeout is returned for an access whose page did not arrive in time.
var ErrTimeout = errors.New("page did not arrive in time")

// ErrClosed is returned for accesses after Close.
var ErrClosed = errors.New("node is shut down")

// ErrPeerDead is returned for an access to a page whose owner, as far as
// this node knows, is a node that died.
var ErrPeerDead = errors.New("the page's owner is dead")

// ErrNotHere is returned for a read over several pages when some are owned
// elsewhere; they have been asked for.
var ErrNotHere = errors.New("not all pages of the read are here")

// waiter is a local access waiting for its page to arrive.
type waiter struct {
	page PageID
	off  int    // where in the page the access starts
	dst  []byte // a read copies the page from off into dst
	src  []byte // a write copies src into the page at off
	// shared: through segment.ro, served by a read copy.
	shared bool
	done   chan error
	next   *waiter // the next waiter for the same page
	// arrived is when the page that served it arrived from a peer, and
	// handed when this node's request for it was handed on; zero if it
	// was served otherwise (stages.go); set before done.
	arrived, handed time.Time
}

// apply performs the access on the page's bytes; called with mu held.
func (w *waiter) apply(s PageStore) {
	if w.src != nil {
		copy(s.Bytes(w.page)[w.off:], w.src)
	} else {
		copy(w.dst, s.Bytes(w.page)[w.off:])
	}
}

// ReadAt fills dst from the segment at byte offset off; FUSE READ handlers
// call it. A read inside one page waits until the page is here, Timeout
// passes or the node closes; ctx ending (a signal) does not stop it (see
// wait).
//
// A read over several pages, which only the kernel's readahead issues, must
// not wait: the kernel keeps all its pages locked meanwhile, and two nodes
// each waiting for a page the other's read has locked would deadlock. It is
// served when every page is here; otherwise the missing pages are asked for,
// so that they arrive ahead of the faults to come, and ErrNotHere tells the
// kernel to read just the page it faulted on.
func (n *Node) ReadAt(ctx context.Context, dst []byte, off int64) error {
	return n.read(ctx, dst, off, false)
}

// ReadCopyAt fills dst from segment.ro, the read copies' file, at byte
// offset off; its FUSE READ handler calls it. It is ReadAt with read
// copies: any number of nodes may hold one of a page at once.
func (n *Node) ReadCopyAt(ctx context.Context, dst []byte, off int64) error {
	return n.read(ctx, dst, off, true)
}

func (n *Node) read(ctx context.Context, dst []byte, off int64, shared bool) error {
	first, last := n.pages(off, len(dst))
	if first == last {
		return n.access(ctx, waiter{page: first, off: n.offset(off), dst: dst, shared: shared})
	}
	n.mu.Lock()
	here := !n.fenced
	for p := first; p <= last; p++ {
		if shared {
			here = here && n.m.ReadHere(p)
		} else {
			here = here && n.m.Here(p)
		}
	}
	for p := first; p <= last; p++ {
		switch {
		case !here && shared:
			n.m.AskRead(p)
			continue
		case !here:
			n.m.Ask(p)
			continue
		case shared:
			n.m.AccessRead(p) // notes that local programs read it
		default:
			n.m.Access(p) // notes the use of a page that is leaving
		}
		lo := max(0, int(int64(p)*int64(n.cfg.PageSize)-off))
		copy(dst[lo:], n.sourceLocked(p, shared).Bytes(p)[n.offset(off+int64(lo)):])
	}
	n.releaseInHandler(n.readyLocked(nil))
	if !here {
		n.stats.readaheadDeclined.Add(1)
		return ErrNotHere
	}
	n.stats.localAccesses.Add(1)
	return nil
}

// WriteAt stores src at byte offset off and returns how many bytes it took;
// FUSE WRITE handlers call it. It waits until the page of off is here, then
// goes on only while the following pages are here too, and stops short at
// the first that is not (the kernel sends the rest again), so that it never
// waits while the kernel holds more than one page locked for it.
func (n *Node) WriteAt(ctx context.Context, src []byte, off int64) (int, error) {
	first, last := n.pages(off, len(src))
	k := min(len(src), n.cfg.PageSize-n.offset(off))
	if err := n.access(ctx, waiter{page: first, off: n.offset(off), src: src[:k]}); err != nil {
		return 0, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for p := first + 1; p <= last && n.m.Here(p); p++ {
		n.m.Access(p) // notes the use of a page that is leaving
		k += copy(n.store.Bytes(p), src[k:])
		n.wroteLocked(p)
	}
	return k, nil
}

// prefetchLocked asks for the pages after p when the accesses reaching this
// node walk forward through the segment (the two pages before p are here),
// so that a sequential sweep keeps up to cfg.Prefetch migrations in flight
// ahead of it instead of waiting for each in turn. Random access rarely
// has both predecessors, so it rarely prefetches. mu held.
func (n *Node) prefetchLocked(p PageID, shared bool) {
	here, ask := n.m.Owns, n.m.Ask
	if shared {
		here, ask = n.m.ReadHere, n.m.AskRead
	}
	if n.cfg.Prefetch == 0 || p < 2 || !here(p-1) || !here(p-2) {
		return
	}
	for q := p + 1; q <= p+PageID(n.cfg.Prefetch) && int(q) < n.m.Pages(); q++ {
		ask(q)
	}
}

// pages is the first and last page that [off, off+size) touches.
func (n *Node) pages(off int64, size int) (first, last PageID) {
	ps := int64(n.cfg.PageSize)
	return PageID(off / ps), PageID((off + int64(max(size, 1)) - 1) / ps)
}

// offset is where byte off of the segment lies in its page.
func (n *Node) offset(off int64) int { return int(off % int64(n.cfg.PageSize)) }

// access performs one access within a page, waiting for the page if it is
// not here. local is a value so that the common case, a page that is here,
// allocates nothing; only a waiting access is put on the heap.
func (n *Node) access(ctx context.Context, local waiter) error {
	n.mu.Lock()
	if n.fenced && (local.src == nil || local.shared) {
		// The kernel's write-back is taken, and dropped with the node.
		n.mu.Unlock()
		n.stats.faultErrors.Add(1)
		return ErrFenced
	}
	var result AccessResult
	if local.shared {
		result = n.m.AccessRead(local.page)
	} else {
		result = n.m.Access(local.page)
	}
	switch result {
	case AccessHere:
		local.apply(n.sourceLocked(local.page, local.shared))
		if local.src != nil {
			n.wroteLocked(local.page)
		}
		n.prefetchLocked(local.page, local.shared)
		n.releaseInHandler(n.readyLocked(nil))
		n.stats.localAccesses.Add(1)
		return nil
	case AccessWaits:
		if ago, recent := n.timedOutLocked(local.page); recent {
			// The kernel's retry of a fault that just timed out.
			n.releaseInHandler(n.readyLocked(nil))
			n.stats.faultErrors.Add(1)
			return n.retryError(local.page, ago)
		}
	default:
		n.mu.Unlock()
		if result != AccessClosed {
			n.stats.faultErrors.Add(1)
		}
		return accessError(result, local.page)
	}
	w := new(waiter)
	*w = local
	w.done = make(chan error, 1)
	waiters := n.waitersOf(w)
	w.next = waiters[w.page]
	waiters[w.page] = w
	n.prefetchLocked(w.page, w.shared)
	began := time.Now()
	// Its invalidations, if any (a read copy taken back, a page taken from
	// local programs' writable mapping), run off this handler.
	n.releaseInHandler(n.readyLocked(nil))
	sent := time.Now()
	err := n.wait(ctx, w)
	if err != nil {
		n.stats.faultErrors.Add(1)
		return err
	}
	woke := time.Now()
	n.stats.fault(woke.Sub(sent))
	n.stages.add(StageWait, woke.Sub(began))
	if !w.handed.IsZero() && !w.arrived.IsZero() {
		n.stages.add(StageSend, w.handed.Sub(began))
		n.stages.add(StageAway, w.arrived.Sub(w.handed))
		n.stages.add(StageInstall, woke.Sub(w.arrived))
	}
	return nil
}

// accessError is why an access to page p fails.
func accessError(r AccessResult, p PageID) error {
	switch r {
	case AccessLost:
		return fmt.Errorf("page %d: %w", p, ErrPageLost)
	case AccessOwnerDead:
		return fmt.Errorf("page %d: %w", p, ErrPeerDead)
	}
	return ErrClosed
}

// wait waits until w is served, Timeout passes or the node closes. It
// never gives up because ctx ends: ctx is the FUSE request's, and it ends
// when a signal interrupts the program that faulted (an interval timer, a
// profiler, the Go runtime's preemption). Failing the READ would not make
// the kernel retry it: a failed READ of a fault that the kernel is already
// retrying (after waiting for a locked page) is SIGBUS. So the access goes
// on waiting, and the program handles its signal once the page is here.
func (n *Node) wait(ctx context.Context, w *waiter) error {
	timer := time.NewTimer(n.cfg.Timeout)
	defer timer.Stop()
	for interrupted := ctx.Done(); ; {
		select {
		case err := <-w.done:
			return err
		case <-interrupted:
			n.stats.interrupted.Add(1)
			interrupted = nil // counted once; the access waits on
		case <-timer.C:
			n.mu.Lock()
			gone := n.removeWaiter(w)
			if gone {
				n.timedOut[w.page] = time.Now()
			}
			n.mu.Unlock()
			if !gone {
				// Served while we gave up: the access has happened.
				return <-w.done
			}
			return fmt.Errorf("page %d: %w after %v", w.page, ErrTimeout, n.cfg.Timeout)
		}
	}
}

// sourceLocked is where an access to page p through segment (or, if
// shared, segment.ro) finds the bytes; mu held.
func (n *Node) sourceLocked(p PageID, shared bool) PageStore {
	if shared {
		return n.readSource(p)
	}
	return n.store
}

// waitersOf is the waiters map w belongs in; mu held.
func (n *Node) waitersOf(w *waiter) map[PageID]*waiter {
	if w.shared {
		return n.readWaiters
	}
	return n.waiters
}

// removeWaiter unlinks w and reports whether it was still waiting; mu held.
func (n *Node) removeWaiter(w *waiter) bool {
	waiters := n.waitersOf(w)
	head := waiters[w.page]
	if head == w {
		if w.next == nil {
			delete(waiters, w.page)
		} else {
			waiters[w.page] = w.next
		}
		return true
	}
	for link := head; link != nil; link = link.next {
		if link.next == w {
			link.next = w.next
			return true
		}
	}
	return false
}
