package locks

import (
	"slices"

	"github.com/dsmfs/dsmfs/owner"
)

// Type is what a lock request wants.
type Type uint8

const (
	Unlock Type = iota
	Read
	Write
)

// Owner identifies a holder across the cluster: the kernel's lock owner id
// is only unique on its own node. Flock and POSIX locks are separate
// namespaces, as on Linux, where they never conflict with each other.
type Owner struct {
	Node  owner.NodeID
	ID    uint64
	Flock bool
}

// Lock is a held lock, or a request for one; End is inclusive.
type Lock struct {
	Owner      Owner
	Type       Type
	Start, End uint64
	Pid        uint32
}

func (l Lock) overlaps(o Lock) bool { return l.Start <= o.End && o.Start <= l.End }

func (l Lock) conflicts(o Lock) bool {
	return l.Owner != o.Owner && l.Owner.Flock == o.Owner.Flock && l.overlaps(o) &&
		(l.Type == Write || o.Type == Write)
}

// Table holds the cluster's locks and the requests waiting for them. It is
// a plain data structure, not safe for concurrent use.
type Table struct {
	held    []Lock
	waiting []Waiter
}

// Waiter is a blocking request waiting for a conflicting lock to go; Tag
// names it in the grant.
type Waiter struct {
	Lock Lock
	Tag  uint64
}

// Conflict returns a held lock that stops l, if any (F_GETLK).
func (t *Table) Conflict(l Lock) (Lock, bool) {
	for _, h := range t.held {
		if l.conflicts(h) {
			return h, true
		}
	}
	return Lock{}, false
}

// Set takes, changes or (with Type Unlock) releases l's owner's locks over
// l's range. It reports false, changing nothing, if another owner's lock
// conflicts. A release may let waiting requests through: Set returns them,
// already granted.
func (t *Table) Set(l Lock) (ok bool, granted []Waiter) {
	if l.Type != Unlock {
		if _, busy := t.Conflict(l); busy {
			return false, nil
		}
	}
	t.replace(l)
	if l.Type == Write {
		return true, nil // taking a lock can let nobody through
	}
	return true, t.grant()
}

// Wait queues a blocking request that Set refused.
func (t *Table) Wait(w Waiter) { t.waiting = append(t.waiting, w) }

// Cancel drops a waiting request and reports whether it was still waiting.
func (t *Table) Cancel(tag uint64) bool {
	i := slices.IndexFunc(t.waiting, func(w Waiter) bool { return w.Tag == tag })
	if i < 0 {
		return false
	}
	t.waiting = slices.Delete(t.waiting, i, i+1)
	return true
}

// Release drops every lock and waiting request matching owner (a closed
// file, an exited process, a lost node), and returns the waiting requests
// that this lets through, granted.
func (t *Table) Release(match func(Owner) bool) []Waiter {
	t.held = slices.DeleteFunc(t.held, func(h Lock) bool { return match(h.Owner) })
	t.waiting = slices.DeleteFunc(t.waiting, func(w Waiter) bool { return match(w.Lock.Owner) })
	return t.grant()
}

// grant takes every waiting request that no longer conflicts, oldest first.
func (t *Table) grant() []Waiter {
	var granted []Waiter
	for i := 0; i < len(t.waiting); {
		w := t.waiting[i]
		if _, busy := t.Conflict(w.Lock); busy {
			i++
			continue
		}
		t.replace(w.Lock)
		t.waiting = slices.Delete(t.waiting, i, i+1)
		granted = append(granted, w)
	}
	return granted
}

// replace sets l's owner's locks over l's range to l, splitting and
// trimming what the owner held there (POSIX semantics: a lock over part of
// an existing one splits it).
func (t *Table) replace(l Lock) {
	var kept []Lock
	for _, h := range t.held {
		if h.Owner != l.Owner || !h.overlaps(l) {
			kept = append(kept, h)
			continue
		}
		if h.Start < l.Start {
			left := h
			left.End = l.Start - 1
			kept = append(kept, left)
		}
		if h.End > l.End {
			right := h
			right.Start = l.End + 1
			kept = append(kept, right)
		}
	}
	if l.Type != Unlock {
		kept = append(kept, l)
	}
	t.held = kept
}

// Held returns the held locks, for tests and inspection.
func (t *Table) Held() []Lock { return slices.Clone(t.held) }
