package owner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"
)

// Leaving, the driver's side (the protocol is leave.go): the rounds of
// pulls, and the wait for the peers to route around this node.

// ErrNoSurvivors is Leave's answer when every other node has left or died:
// the pages held here go with this node.
var ErrNoSurvivors = errors.New("no other node stays")

// ErrLeaveLost is Leave's answer when it gave up before every page held
// here was handed on: those pages go with this node.
var ErrLeaveLost = errors.New("leaving lost data")

// Leave rounds: every pullEvery the survivors are asked again for the pages
// still here (a survivor that was asked may have started leaving itself, or
// died); every checkEvery the node looks whether it holds anything still.
const (
	pullEvery  = 500 * time.Millisecond
	checkEvery = pullEvery / 10
)

// leaveAcks collects the peers that route around this node as it leaves.
// Acknowledgements are noted under the node's mu and never block the
// transport goroutine that brings them, however many come.
type leaveAcks struct {
	waiting map[NodeID]bool
	changed chan struct{} // 1-buffered: an ack came
}

// Leave hands every page this node holds to the nodes that stay, then has
// every peer route around it, so that it can exit losing nothing. Local
// programs can only use pages still here meanwhile.
func (n *Node) Leave(ctx context.Context) error {
	n.mu.Lock()
	n.m.Leave()
	n.failWaitersLocked(func(PageID) bool { return true }, ErrClosed)
	n.release(n.readyLocked(nil))
	progress := cmp.Or(n.cfg.Progress, 2*time.Second)
	said := time.Now()
	for round := 0; ; round++ {
		n.mu.Lock()
		held := n.m.Held()
		drained := n.m.Drained()
		if !drained && round%int(pullEvery/checkEvery) == 0 {
			n.m.Pull()
		}
		survivors := len(n.m.Group().Survivors())
		n.release(n.readyLocked(nil))
		if drained {
			break
		}
		if time.Since(said) >= progress {
			said = time.Now()
			n.log.Info("leaving: pages left to hand on", "pages", held, "survivors", survivors)
		}
		if survivors == 0 {
			return fmt.Errorf("%w to take the %d pages held here", ErrNoSurvivors, held)
		}
		select {
		case <-ctx.Done():
			n.mu.Lock()
			lost := n.m.HeldPages()
			n.mu.Unlock()
			return fmt.Errorf("%w: %d pages still held when leaving gave up (%v), pages lost: %s", ErrLeaveLost, held, ctx.Err(), FormatRuns(lost))
		case <-time.After(checkEvery):
		}
	}
	acks := &leaveAcks{waiting: map[NodeID]bool{}, changed: make(chan struct{}, 1)}
	n.mu.Lock()
	for _, id := range n.m.Left() {
		acks.waiting[id] = true
	}
	n.leave = acks
	n.release(n.readyLocked(nil))
	for {
		n.mu.Lock()
		for id := range acks.waiting {
			if n.m.Group().Dead(id) {
				delete(acks.waiting, id) // left or died meanwhile: it will not answer
			}
		}
		waiting := len(acks.waiting)
		n.mu.Unlock()
		if waiting == 0 {
			return nil
		}
		select {
		case <-acks.changed:
		case <-time.After(checkEvery):
		case <-ctx.Done():
			return fmt.Errorf("%d peers did not confirm that they route around this node: %w", waiting, ctx.Err())
		}
	}
}

// leftAck notes that peer routes around this node, which leaves.
func (n *Node) leftAck(peer NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.leave == nil {
		return
	}
	delete(n.leave.waiting, peer)
	select {
	case n.leave.changed <- struct{}{}:
	default: // the leave is told already
	}
}

// Stop ends this node's part in the cluster so that stopping it loses
// nothing: it leaves (Leave), handing the pages held here to the nodes that
// stay, within timeout. The only node of a cluster just closes. It returns
// an error, naming the pages, when some could not be handed on in time
// although other nodes stay: those pages are lost.
func (n *Node) Stop(timeout time.Duration) error {
	if n.cfg.Nodes == 1 {
		n.Close()
		return nil
	}
	n.log.Info("leaving: handing pages to the other nodes")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	switch err := n.Leave(ctx); {
	case errors.Is(err, ErrNoSurvivors):
		n.log.Warn("this is the last node of the cluster: its pages go with it", "err", err)
	case errors.Is(err, ErrLeaveLost):
		n.log.Error("leaving lost data", "err", err)
		return err
	case err != nil:
		// Every page is with the others; a peer that did not confirm
		// may still send this node requests, which die with it.
		n.log.Warn("left the cluster, but not every peer confirmed", "err", err)
	default:
		n.log.Info("left the cluster; every page is with the other nodes")
	}
	return nil
}
