package owner

import (
	"errors"
	"slices"
	"testing"
)

// lossCluster is machines without copies, run to quiescence by pump: it
// delivers every message between live nodes, ends every invalidation, and
// steps again what an epoch held back once it is installed. Messages to a
// dead node, and those drop says, are lost.
type lossCluster struct {
	t       *testing.T
	ms      []*Machine
	dead    map[NodeID]bool
	done    map[NodeID][]Action // every action each node asked for
	drop    func(Message) bool  // messages lost on the wire
	pending []Message
}

func newLossCluster(t *testing.T, nodes, pages int) *lossCluster {
	c := &lossCluster{t: t, dead: map[NodeID]bool{}, done: map[NodeID][]Action{}, drop: func(Message) bool { return false }}
	for i := range nodes {
		c.ms = append(c.ms, NewMachine(Config{Self: NodeID(i), Nodes: nodes, Pages: pages}))
	}
	return c
}

func (c *lossCluster) pump() {
	deferred := map[NodeID][]Message{}
	for progress := true; progress; {
		progress = false
		var invalidated []func()
		for id, m := range c.ms {
			n := NodeID(id)
			if c.dead[n] {
				continue
			}
			rd := m.Ready()
			for _, a := range rd.Actions {
				progress = true
				c.done[n] = append(c.done[n], a)
				switch a.Kind {
				case ActInvalidate:
					invalidated = append(invalidated, func() { m.InvalidateDone(a.Page) })
				case ActInstalled:
					c.pending = append(c.pending, deferred[n]...)
					deferred[n] = nil
				}
			}
			for _, msg := range rd.Messages {
				progress = true
				if !c.dead[msg.To] && !c.drop(msg) {
					c.pending = append(c.pending, msg)
				}
			}
		}
		for len(c.pending) > 0 {
			progress = true
			msg := c.pending[0]
			c.pending = c.pending[1:]
			if c.dead[msg.To] {
				continue
			}
			switch err := c.ms[msg.To].Step(msg); {
			case errors.Is(err, ErrLater):
				deferred[msg.To] = append(deferred[msg.To], msg)
			case err != nil:
				c.t.Fatalf("node %d: Step(%v): %v", msg.To, msg, err)
			}
		}
		for _, done := range invalidated { // after the messages: the kernel is slower
			done()
		}
	}
}

// access is a local access on node n to page p, pumped until it settles.
func (c *lossCluster) access(n NodeID, p PageID) AccessResult {
	r := c.ms[n].Access(p)
	c.pump()
	return r
}

// kill stops node n: every live peer loses it.
func (c *lossCluster) kill(n NodeID) {
	c.dead[n] = true
	for id, m := range c.ms {
		if !c.dead[NodeID(id)] {
			m.PeerLost(n)
		}
	}
	c.pump()
}

func (c *lossCluster) did(n NodeID, a Action) bool { return slices.Contains(c.done[n], a) }

// TestDeathLosesOnlyItsPages: without copies, node 2 dies while hints lead
// through it. Page 2 went 0 -> 1 -> 2, so node 0 would ask node 1, which
// would forward to node 2: it is lost, and both survivors say so at once.
// Page 4 started on node 2 and moved to node 1, which node 0 never heard
// of: node 0 still gets it.
func TestDeathLosesOnlyItsPages(t *testing.T) {
	c := newLossCluster(t, 3, 6) // node i owns pages 2i and 2i+1
	for _, n := range []NodeID{0, 1, 2} {
		c.access(n, 2)
	}
	c.access(1, 4)
	if !c.ms[2].Owns(2) || !c.ms[1].Owns(4) || c.ms[0].Owner(2) != 1 || c.ms[0].Owner(4) != 2 {
		t.Fatalf("setup: page 2 at %d (node 0 points at %d), page 4 at %d (node 0 points at %d)",
			c.ms[2].Owner(2), c.ms[0].Owner(2), c.ms[1].Owner(4), c.ms[0].Owner(4))
	}
	c.kill(2)
	for _, n := range []NodeID{0, 1} {
		if got := c.access(n, 2); got != AccessLost {
			t.Errorf("node %d: access to the page that died with node 2 = %v, want AccessLost", n, got)
		}
	}
	if got := c.access(0, 4); got != AccessWaits || !c.ms[0].Owns(4) || !c.did(0, Action{Kind: ActServe, Page: 4}) {
		t.Errorf("node 0: access to the page that moved on from node 2 = %v, owned %v, want it served", got, c.ms[0].Owns(4))
	}
}

// TestHandOffToDeadNodeGoesBack: node 0 hands page 0 to node 2, which dies
// before it takes it. Node 0 kept the bytes, and gets the page back from
// them; a hand-off that was taken drops them.
func TestHandOffToDeadNodeGoesBack(t *testing.T) {
	c := newLossCluster(t, 3, 6)
	c.access(1, 1)
	if c.ms[0].Copies() != 0 {
		t.Fatalf("node 0 keeps %d copies after node 1 took page 1, want none", c.ms[0].Copies())
	}
	c.drop = func(msg Message) bool { return msg.Type == MsgPage && msg.To == 2 }
	c.access(2, 0)
	if c.ms[0].Owns(0) || c.ms[2].Owns(0) || c.ms[0].Copies() != 1 {
		t.Fatalf("setup: page 0 owned by node 0 %v, node 2 %v; node 0 keeps %d copies", c.ms[0].Owns(0), c.ms[2].Owns(0), c.ms[0].Copies())
	}
	c.kill(2)
	if !c.ms[0].Owns(0) || !c.did(0, Action{Kind: ActPromote, Page: 0}) {
		t.Fatalf("after node 2 died, node 0 owns page 0: %v, promoted from its copy: %v", c.ms[0].Owns(0), c.did(0, Action{Kind: ActPromote, Page: 0}))
	}
	if got := c.access(1, 0); got != AccessWaits || !c.ms[1].Owns(0) {
		t.Fatalf("node 1: access to the page given back = %v, owned %v", got, c.ms[1].Owns(0))
	}
}

// TestLeaveReroutesAroundSilentNode: node 2 leaves while node 1, not
// declared dead, answers nothing. Node 1's share of the pages is asked of
// node 0 after rerouteRounds rounds, and node 0 asks node 2 for them
// directly, although its own hint for page 2 leads through node 1.
func TestLeaveReroutesAroundSilentNode(t *testing.T) {
	c := newLossCluster(t, 3, 6)
	for _, p := range []PageID{0, 1, 2, 3} {
		c.access(2, p) // node 2 holds every page; node 0 points at node 1 for pages 2 and 3
	}
	c.drop = func(msg Message) bool { return msg.To == 1 }
	c.ms[2].Leave()
	c.pump()
	for round := 0; c.ms[2].Held() > 0; round++ {
		if round > rerouteRounds+1 {
			t.Fatalf("after %d rounds node 2 still holds %d pages", round, c.ms[2].Held())
		}
		c.ms[2].Pull()
		c.pump()
	}
	for p := range PageID(6) {
		if !c.ms[0].Owns(p) {
			t.Errorf("page %d: not on node 0 after node 2 left", p)
		}
	}
}

// TestPlanLosing: without copies, owners keep their pages, the newest
// hand-off not acknowledged goes back to its giver, and pages with only a
// read copy, or nothing, are lost.
func TestPlanLosing(t *testing.T) {
	reports := map[NodeID][]Holding{
		0: {{Page: 0, Kind: HoldOwned, Version: 7}, {Page: 1, Kind: HoldCopy, Version: 2}},
		2: {{Page: 1, Kind: HoldCopy, Version: 3}, {Page: 0, Kind: HoldCopy, Version: 9}, {Page: 2, Kind: HoldRead, Version: 4}},
	}
	got := PlanLosing(4, reports)
	if want := []NodeID{0, 2, None, None}; !slices.Equal(got, want) {
		t.Fatalf("PlanLosing = %v, want %v", got, want)
	}
}

// TestLeaverWaitsForGiveBack: node 2 leaves, and its hand-off of page 5 to
// node 1 dies with node 1. Node 2 is not drained until the recovery has
// given page 5 back to it, and then hands it to node 0.
func TestLeaverWaitsForGiveBack(t *testing.T) {
	c := newLossCluster(t, 3, 6)
	c.drop = func(msg Message) bool { return msg.Type == MsgPage && msg.To == 1 }
	c.ms[2].Leave()
	c.ms[2].Pull()
	c.pump()
	if c.ms[2].Held() != 0 || c.ms[1].Owns(5) || c.ms[0].Owns(5) {
		t.Fatalf("setup: node 2 holds %d pages; page 5 on node 0 %v, node 1 %v", c.ms[2].Held(), c.ms[0].Owns(5), c.ms[1].Owns(5))
	}
	c.dead[1] = true
	c.ms[0].PeerLost(1)
	c.ms[2].PeerLost(1)
	if c.ms[2].Drained() {
		t.Fatal("node 2 is drained before the recovery decided where page 5 is")
	}
	c.pump()
	for round := 0; c.ms[2].Held() > 0 || !c.ms[2].Drained(); round++ {
		if round > rerouteRounds {
			t.Fatalf("node 2 still holds %d pages after %d rounds", c.ms[2].Held(), round)
		}
		c.ms[2].Pull()
		c.pump()
	}
	if !c.ms[0].Owns(4) || !c.ms[0].Owns(5) {
		t.Fatalf("after node 2 left, node 0 owns page 4: %v, page 5: %v", c.ms[0].Owns(4), c.ms[0].Owns(5))
	}
}
