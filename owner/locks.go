package owner

import "slices"

// Cluster-wide file locks on the segment (flock and fcntl byte ranges). One
// node, the lock server (node 0), keeps the table; the others ask it. The
// table is a plain data structure: the driver feeds it and carries replies.

// LockType is what a lock request wants.
type LockType uint8

const (
	Unlock LockType = iota
	ReadLock
	WriteLock
)

// LockOwner identifies a holder across the cluster: the kernel's lock owner
// id is only unique on its own node. Flock and POSIX locks are separate
// namespaces, as on Linux, where they never conflict with each other.
type LockOwner struct {
	Node  NodeID
	ID    uint64
	Flock bool
}

// Lock is a held lock, or a request for one; End is inclusive.
type Lock struct {
	Owner      LockOwner
	Type       LockType
	Start, End uint64
	Pid        uint32
}

func (l Lock) overlaps(o Lock) bool { return l.Start <= o.End && o.Start <= l.End }

func (l Lock) conflicts(o Lock) bool {
	return l.Owner != o.Owner && l.Owner.Flock == o.Owner.Flock && l.overlaps(o) &&
		(l.Type == WriteLock || o.Type == WriteLock)
}

// LockTable holds the cluster's locks and the requests waiting for them.
type LockTable struct {
	held    []Lock
	waiting []LockWait
}

// LockWait is a blocking request waiting for a conflicting lock to go; Tag
// is the driver's, to answer it when it is granted.
type LockWait struct {
	Lock Lock
	Tag  uint64
}

// Conflict returns a held lock that stops l, if any (F_GETLK).
func (t *LockTable) Conflict(l Lock) (Lock, bool) {
	for _, h := range t.held {
		if l.conflicts(h) {
			return h, true
		}
	}
	return Lock{}, false
}

// Set takes, changes or (with Type Unlock) releases l's owner's locks over
// l's range. It reports false, changing nothing, if another owner's lock
// conflicts. A release may let waiting requests through: Set returns their
// tags, already granted.
func (t *LockTable) Set(l Lock) (ok bool, granted []uint64) {
	if l.Type != Unlock {
		if _, busy := t.Conflict(l); busy {
			return false, nil
		}
	}
	t.replace(l)
	if l.Type == WriteLock {
		return true, nil // taking a lock can let nobody through
	}
	return true, t.grant()
}

// Wait queues a blocking request that Set refused.
func (t *LockTable) Wait(w LockWait) { t.waiting = append(t.waiting, w) }

// Cancel drops a waiting request and reports whether it was still waiting.
func (t *LockTable) Cancel(tag uint64) bool {
	i := slices.IndexFunc(t.waiting, func(w LockWait) bool { return w.Tag == tag })
	if i < 0 {
		return false
	}
	t.waiting = slices.Delete(t.waiting, i, i+1)
	return true
}

// Release drops every lock and waiting request matching owner (a closed
// file, an exited process), and returns the tags of waiting requests that
// this lets through.
func (t *LockTable) Release(match func(LockOwner) bool) []uint64 {
	t.held = slices.DeleteFunc(t.held, func(h Lock) bool { return match(h.Owner) })
	t.waiting = slices.DeleteFunc(t.waiting, func(w LockWait) bool { return match(w.Lock.Owner) })
	return t.grant()
}

// grant takes every waiting request that no longer conflicts, oldest first.
func (t *LockTable) grant() []uint64 {
	var tags []uint64
	for i := 0; i < len(t.waiting); {
		w := t.waiting[i]
		if _, busy := t.Conflict(w.Lock); busy {
			i++
			continue
		}
		t.replace(w.Lock)
		t.waiting = slices.Delete(t.waiting, i, i+1)
		tags = append(tags, w.Tag)
	}
	return tags
}

// replace sets l's owner's locks over l's range to l, splitting and
// trimming what the owner held there (POSIX semantics: a lock over part of
// an existing one splits it).
func (t *LockTable) replace(l Lock) {
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
func (t *LockTable) Held() []Lock { return slices.Clone(t.held) }
