package owner

import (
	"context"
	"errors"
	"time"
)

// Quorum and fencing. A node that cannot hear a quorum of the members may
// be the one the others recover without: before they give its pages away
// (a whole peer timeout later), it must take them from its programs and
// stop. Quorum is more than half the members, or exactly half with the
// lowest member among them, so two groups cut apart never both have one.

// ErrFenced is returned for accesses on a node that fenced itself.
var ErrFenced = errors.New("this node was cut off from the cluster")

// ErrNoQuorum is KeepQuorum's answer when this node hears too few members.
var ErrNoQuorum = errors.New("this node hears less than a quorum of the cluster")

// quorumLocked reports whether the members for which up is true (this node
// always is) are a quorum; mu held.
func (n *Node) quorumLocked(up func(NodeID) bool) bool {
	total, alive, lowest := 0, 0, None
	for id := range NodeID(n.cfg.Nodes) {
		if !n.members[id] {
			continue
		}
		if lowest == None {
			lowest = id
		}
		total++
		if id == n.cfg.Self || up(id) {
			alive++
		}
	}
	return 2*alive > total || 2*alive == total && (lowest == n.cfg.Self || up(lowest))
}

// KeepQuorum checks every interval that this node hears a quorum of the
// members, heard telling which peers it heard from lately, until ctx ends.
// It returns ErrNoQuorum when it does not: the others may then recover the
// pages held here, so the node must Fence itself at once.
func (n *Node) KeepQuorum(ctx context.Context, every time.Duration, heard func(NodeID) bool) error {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		n.mu.Lock()
		ok := n.quorumLocked(func(id NodeID) bool { return !n.dead[id] && heard(id) })
		n.mu.Unlock()
		if !ok {
			return ErrNoQuorum
		}
	}
}

// Fence shuts this node down for good because its peers may give its pages
// to others: every access fails from now on but the kernel's write-back,
// whose data is dropped, and every page is taken from local programs.
func (n *Node) Fence() {
	n.mu.Lock()
	n.closed, n.fenced = true, true
	n.failWaitersLocked(func(PageID) bool { return true }, func(PageID) error { return ErrFenced })
	n.mu.Unlock()
	// One call, however large the segment: the others give the pages
	// away a fixed time after this node lost its quorum.
	if err := n.kernel.InvalidateAll(); err != nil {
		n.log.Error("cannot take the pages from local programs", "err", err)
	}
}
