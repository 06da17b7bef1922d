package owner

import (
	"context"
	"errors"
	"time"
)

// Fencing. A node that cannot hear a quorum of the members may be the one
// the others recover without: before they give its pages away (a whole
// fence wait later), it must take them from its programs and stop.

// ErrFenced is returned for accesses on a node that fenced itself.
var ErrFenced = errors.New("this node was cut off from the cluster")

// ErrNoQuorum is KeepQuorum's answer when this node hears too few members.
var ErrNoQuorum = errors.New("this node hears less than a quorum of the cluster")

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
		ok := n.m.HearsQuorum(heard)
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
	n.m.Close()
	n.fenced = true
	n.failWaitersLocked(func(PageID) bool { return true }, ErrFenced)
	n.mu.Unlock()
	// One call, however large the segment: the others give the pages
	// away a fixed time after this node lost its quorum.
	if err := n.kernel.InvalidateAll(); err != nil {
		n.log.Error("cannot take the pages from local programs", "err", err)
	}
}
