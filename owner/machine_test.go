package owner

// Named scenarios on two or three Machines wired by hand: each test plays
// one exchange message by message and checks every Ready on the way, so
// that a change in the protocol's shape shows up here by name before the
// simulator (sim_test.go) finds it by chance.

import (
	"math"
	"reflect"
	"slices"
	"testing"
)

func newCluster(nodes, pages int, hold bool) []*Machine {
	ms := make([]*Machine, nodes)
	for i := range ms {
		ms[i] = NewMachine(Config{Self: NodeID(i), Nodes: nodes, Pages: pages, Hold: hold})
	}
	return ms
}

// expect takes m's Ready and compares it with want.
func expect(t *testing.T, m *Machine, want Ready) {
	t.Helper()
	if got := m.Ready(); !reflect.DeepEqual(got, want) {
		t.Fatalf("node %d: Ready = %+v, want %+v", m.cfg.Self, got, want)
	}
}

func step(t *testing.T, m *Machine, msg Message) {
	t.Helper()
	if err := m.Step(msg); err != nil {
		t.Fatalf("node %d: Step(%v): %v", m.cfg.Self, msg, err)
	}
}

func request(from, to NodeID, p PageID, requester NodeID) Message {
	return Message{Type: MsgRequest, From: from, To: to, Page: p, Requester: requester}
}

// pageAt is a hand-off of page p at version v: its v-th.
func pageAt(from, to NodeID, p PageID, v uint64) Message {
	m := page(from, to, p)
	m.Version = v
	return m
}

// page is the first hand-off of page p.
func page(from, to NodeID, p PageID) Message {
	return Message{Type: MsgPage, From: from, To: to, Page: p, Requester: to, Version: 1}
}

func sends(msgs ...Message) Ready { return Ready{Messages: msgs} }

// handsOff is the Ready of a hand-off without copies: the giver keeps the
// bytes and asks the receiver to say it took them (lost.go).
func handsOff(msg Message) Ready {
	msg.Ack = true
	return Ready{Actions: []Action{{Kind: ActKeepCopy, Page: msg.Page}}, Messages: []Message{msg}}
}

func acts(as ...Action) Ready { return Ready{Actions: as} }

func take(p PageID) Action       { return Action{Kind: ActTakePage, Page: p} }
func serve(p PageID) Action      { return Action{Kind: ActServe, Page: p} }
func invalidate(p PageID) Action { return Action{Kind: ActInvalidate, Page: p} }
func hold(p PageID) Action       { return Action{Kind: ActHold, Page: p} }

// owners lists, per page, which machines own it.
func owners(ms []*Machine, pages int) [][]NodeID {
	all := make([][]NodeID, pages)
	for p := range all {
		for _, m := range ms {
			if m.Owns(PageID(p)) {
				all[p] = append(all[p], m.cfg.Self)
			}
		}
	}
	return all
}

func TestInitialOwner(t *testing.T) {
	// The documented split, node i owns [i*P/n, (i+1)*P/n), checked
	// against the closed form for every small cluster, uneven ones and
	// ones with fewer pages than nodes included.
	for nodes := 1; nodes <= 9; nodes++ {
		for pages := 1; pages <= 40; pages++ {
			for i := range nodes {
				for p := i * pages / nodes; p < (i+1)*pages/nodes; p++ {
					if got := InitialOwner(PageID(p), nodes, pages); got != NodeID(i) {
						t.Fatalf("InitialOwner(%d, %d nodes, %d pages) = %d, want %d", p, nodes, pages, got, i)
					}
				}
			}
		}
	}
	for _, tc := range []struct {
		nodes int
		want  []NodeID // owner of each page
	}{
		{nodes: 1, want: []NodeID{0, 0, 0}},
		{nodes: 2, want: []NodeID{0, 0, 1, 1}},
		{nodes: 3, want: []NodeID{0, 0, 0, 1, 1, 1, 2, 2, 2, 2}},
		{nodes: 3, want: []NodeID{1, 2}},
		{nodes: 4, want: []NodeID{3}},
	} {
		ms := newCluster(tc.nodes, len(tc.want), false)
		for p, o := range tc.want {
			pg := PageID(p)
			if got := owners(ms, len(tc.want))[p]; !slices.Equal(got, []NodeID{o}) {
				t.Errorf("%d nodes, %d pages: page %d owned by %v, want [%d]", tc.nodes, len(tc.want), p, got, o)
			}
			for _, m := range ms {
				if got := m.Owner(pg); got != o {
					t.Errorf("%d nodes, %d pages: node %d thinks page %d is at %d, want %d", tc.nodes, len(tc.want), m.cfg.Self, p, got, o)
				}
			}
		}
	}
}

// TestInitialOwnerLastPage: a PageID numbers up to 2^32 pages, so the last
// page of the largest segment must land on the last node like any other.
func TestInitialOwnerLastPage(t *testing.T) {
	if got := InitialOwner(math.MaxUint32, 4, 1<<32); got != 3 {
		t.Fatalf("InitialOwner(MaxUint32, 4 nodes, 2^32 pages) = %d, want 3", got)
	}
}

func TestFaultFetchesPage(t *testing.T) {
	ms := newCluster(2, 2, false) // node 0 owns page 0, node 1 page 1
	a, b := ms[0], ms[1]

	if a.Access(1) == AccessHere {
		t.Fatal("node 0 accessed page 1, which node 1 owns")
	}
	expect(t, a, sends(request(0, 1, 1, 0)))
	if a.Access(1) == AccessHere {
		t.Fatal("second access to page 1 served before it arrived")
	}
	expect(t, a, Ready{}) // asked once, however many accesses wait
	if got := a.Owner(1); got != 1 {
		t.Fatalf("requesting node 0 says page 1 is at %d, want 1", got)
	}

	step(t, b, request(0, 1, 1, 0))
	expect(t, b, acts(invalidate(1)))
	if !b.Owns(1) || a.Owns(1) {
		t.Fatal("ownership moved before the invalidation finished")
	}

	b.InvalidateDone(1)
	expect(t, b, handsOff(page(1, 0, 1)))
	if b.Owns(1) || b.Owner(1) != 0 {
		t.Fatalf("after sending, node 1 owns page 1: %v, points at %d", b.Owns(1), b.Owner(1))
	}

	step(t, a, page(1, 0, 1))
	expect(t, a, acts(take(1), serve(1)))
	if !a.Owns(1) || a.Access(1) != AccessHere {
		t.Fatal("node 0 does not own page 1 after it arrived")
	}
	expect(t, a, Ready{})
}

func TestForwardAlongStaleHint(t *testing.T) {
	ms := newCluster(3, 1, false) // node 2 owns page 0
	n0, n1, n2 := ms[0], ms[1], ms[2]

	// Node 1 takes the page; node 0 does not hear of it.
	n1.Access(0)
	expect(t, n1, sends(request(1, 2, 0, 1)))
	step(t, n2, request(1, 2, 0, 1))
	expect(t, n2, acts(invalidate(0)))
	n2.InvalidateDone(0)
	expect(t, n2, handsOff(page(2, 1, 0)))
	step(t, n1, page(2, 1, 0))
	expect(t, n1, acts(take(0), serve(0)))

	// Node 0 asks node 2, which passes the request on to node 1 and
	// points at node 0, the new tail.
	n0.Access(0)
	expect(t, n0, sends(request(0, 2, 0, 0)))
	step(t, n2, request(0, 2, 0, 0))
	expect(t, n2, sends(request(2, 1, 0, 0)))
	if got := n2.Owner(0); got != 0 {
		t.Fatalf("node 2 points at %d after forwarding, want 0", got)
	}
	step(t, n1, request(2, 1, 0, 0))
	expect(t, n1, acts(invalidate(0)))
	n1.InvalidateDone(0)
	expect(t, n1, handsOff(pageAt(1, 0, 0, 2)))
	step(t, n0, pageAt(1, 0, 0, 2))
	expect(t, n0, acts(take(0), serve(0)))
	if got := owners(ms, 1)[0]; !slices.Equal(got, []NodeID{0}) {
		t.Fatalf("page 0 owned by %v, want [0]", got)
	}
}

func TestConcurrentRequestsQueue(t *testing.T) {
	ms := newCluster(3, 1, false) // node 2 owns page 0
	n0, n1, n2 := ms[0], ms[1], ms[2]

	n0.Access(0)
	expect(t, n0, sends(request(0, 2, 0, 0)))
	n1.Access(0)
	expect(t, n1, sends(request(1, 2, 0, 1)))

	// Node 0's request wins; node 1's goes on to node 0, the tail, which
	// queues it although the page is not there yet.
	step(t, n2, request(0, 2, 0, 0))
	expect(t, n2, acts(invalidate(0)))
	step(t, n2, request(1, 2, 0, 1))
	expect(t, n2, sends(request(2, 0, 0, 1)))
	step(t, n0, request(2, 0, 0, 1))
	expect(t, n0, Ready{})

	n2.InvalidateDone(0)
	expect(t, n2, handsOff(page(2, 0, 0)))
	// Node 0 is served first, and only then starts handing the page on.
	step(t, n0, page(2, 0, 0))
	expect(t, n0, acts(take(0), serve(0), invalidate(0)))
	n0.InvalidateDone(0)
	expect(t, n0, handsOff(pageAt(0, 1, 0, 2)))
	step(t, n1, pageAt(0, 1, 0, 2))
	expect(t, n1, acts(take(0), serve(0)))
	for _, m := range ms {
		if got := m.Owner(0); got != 1 {
			t.Errorf("node %d points at %d, want 1", m.cfg.Self, got)
		}
	}
}

// TestAccessWhileLeaving: an access during the invalidation is served here
// (the bytes here are the latest), so the page is invalidated again before
// it goes, however many such accesses come.
func TestAccessWhileLeaving(t *testing.T) {
	ms := newCluster(2, 1, false) // node 1 owns page 0
	n0, n1 := ms[0], ms[1]
	n0.Access(0)
	expect(t, n0, sends(request(0, 1, 0, 0)))
	step(t, n1, request(0, 1, 0, 0))
	expect(t, n1, acts(invalidate(0)))

	if n1.Access(0) != AccessHere || n1.Access(0) != AccessHere {
		t.Fatal("access to a leaving page not served locally")
	}
	expect(t, n1, Ready{})
	n1.InvalidateDone(0)
	expect(t, n1, acts(invalidate(0)))
	if n1.Access(0) != AccessHere {
		t.Fatal("access during the second invalidation not served locally")
	}
	n1.InvalidateDone(0)
	expect(t, n1, acts(invalidate(0)))
	n1.InvalidateDone(0)
	expect(t, n1, handsOff(page(1, 0, 0)))
	if n1.Access(0) == AccessHere {
		t.Fatal("access served after the page left")
	}
	expect(t, n1, sends(request(1, 0, 0, 1)))
}

func TestHoldWindow(t *testing.T) {
	t.Run("request waits for HoldExpired", func(t *testing.T) {
		ms := newCluster(2, 1, true) // node 1 owns page 0
		n0, n1 := ms[0], ms[1]
		n0.Access(0)
		n0.Ready()
		step(t, n1, request(0, 1, 0, 0))
		n1.InvalidateDone(0)
		n1.Ready()
		step(t, n0, page(1, 0, 0))
		expect(t, n0, acts(take(0), serve(0), hold(0)))

		n1.Access(0)
		expect(t, n1, sends(request(1, 0, 0, 1)))
		step(t, n0, request(1, 0, 0, 1))
		expect(t, n0, Ready{})
		if n0.Access(0) != AccessHere {
			t.Fatal("access inside the hold window not served locally")
		}
		n0.HoldExpired(0)
		expect(t, n0, acts(invalidate(0)))
		n0.InvalidateDone(0)
		expect(t, n0, handsOff(pageAt(0, 1, 0, 2)))
	})
	t.Run("request queued before arrival waits too", func(t *testing.T) {
		ms := newCluster(3, 1, true) // node 2 owns page 0
		n0, n1, n2 := ms[0], ms[1], ms[2]
		n0.Access(0)
		n1.Access(0)
		n0.Ready()
		n1.Ready()
		step(t, n2, request(0, 2, 0, 0))
		step(t, n2, request(1, 2, 0, 1))
		step(t, n0, request(2, 0, 0, 1))
		n2.InvalidateDone(0)
		n2.Ready()
		step(t, n0, page(2, 0, 0))
		expect(t, n0, acts(take(0), serve(0), hold(0)))
		n0.HoldExpired(0)
		expect(t, n0, acts(invalidate(0)))
	})
	t.Run("expired with nobody waiting", func(t *testing.T) {
		ms := newCluster(2, 1, true) // node 1 owns page 0
		n0, n1 := ms[0], ms[1]
		n0.Access(0)
		n0.Ready()
		step(t, n1, request(0, 1, 0, 0))
		n1.InvalidateDone(0)
		n1.Ready()
		step(t, n0, page(1, 0, 0))
		expect(t, n0, acts(take(0), serve(0), hold(0)))
		n0.HoldExpired(0)
		expect(t, n0, Ready{})
		// The window is over: the next request is served at once.
		n1.Access(0)
		n1.Ready()
		step(t, n0, request(1, 0, 0, 1))
		expect(t, n0, acts(invalidate(0)))
	})
}

// TestStrayKernelEvents: reports from the driver that no longer match the
// page's state are ignored.
func TestStrayKernelEvents(t *testing.T) {
	ms := newCluster(2, 2, true)
	for _, m := range ms {
		before := slices.Clone(m.pages)
		for p := range PageID(2) {
			m.InvalidateDone(p)
			m.HoldExpired(p)
		}
		expect(t, m, Ready{})
		if !slices.Equal(before, m.pages) {
			t.Fatalf("node %d: stray events changed %+v into %+v", m.cfg.Self, before, m.pages)
		}
	}
}

// TestProtocolViolations: a message that contradicts the protocol is an
// error and changes nothing.
func TestProtocolViolations(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup brings node 0 of a 3-node, 2-page cluster (node 0
		// owns page 0) into the state the message contradicts.
		setup func(t *testing.T, n0 *Machine)
		msg   Message
	}{
		{"page not asked for, absent", nil, page(1, 0, 1)},
		{"page not asked for, owned", nil, page(1, 0, 0)},
		{"page not asked for, leaving", func(t *testing.T, n0 *Machine) {
			step(t, n0, request(1, 0, 0, 1))
		}, page(2, 0, 0)},
		{"unknown page", nil, request(1, 0, 2, 1)},
		{"unknown page in MsgPage", nil, page(1, 0, 7)},
		{"unknown requester", nil, request(1, 0, 0, 3)},
		{"requester None", nil, request(1, 0, 0, None)},
		{"unknown sender", nil, request(5, 0, 0, 1)},
		{"unknown type", nil, Message{Type: 200, From: 1, To: 0, Page: 0, Requester: 1}},
		{"zero type", nil, Message{From: 1, To: 0, Page: 0, Requester: 1}},
		{"own request back", func(_ *testing.T, n0 *Machine) { n0.Access(1) }, request(2, 0, 1, 0)},
		{"own request back to owner", nil, request(1, 0, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n0 := newCluster(3, 2, false)[0]
			if tc.setup != nil {
				tc.setup(t, n0)
			}
			n0.Ready()
			before := slices.Clone(n0.pages)
			if err := n0.Step(tc.msg); err == nil {
				t.Fatalf("Step(%v) accepted", tc.msg)
			}
			expect(t, n0, Ready{})
			if !slices.Equal(before, n0.pages) {
				t.Fatalf("Step(%v) failed but changed %+v into %+v", tc.msg, before, n0.pages)
			}
		})
	}
}

// TestSpliceRoutesAroundLeaver: hints that pointed at a node that left take
// its hint instead; contradictory hints (the leaver pointing back here at a
// page this node does not hold) stay, and so fail fast as a dead node's.
func TestSpliceRoutesAroundLeaver(t *testing.T) {
	m := NewMachine(Config{Self: 0, Nodes: 3, Pages: 6}) // node 1 owns 2-3, node 2 owns 4-5
	m.Splice(1, func(p PageID) NodeID { return []NodeID{1, 1, 2, 0, 1, 1}[p] })
	for p, want := range []NodeID{0, 0, 2, 1, 2, 2} {
		if got := m.Owner(PageID(p)); got != want {
			t.Errorf("page %d: hint %d after splice, want %d", p, got, want)
		}
	}
}

// TestPullKeepsShares: a leaver asks each survivor again for the same
// pages in every round of pulls, however many pages have gone since the
// first: re-cutting what is left would ask the other survivor for pages
// of the first's share, splitting the shares.
func TestPullKeepsShares(t *testing.T) {
	ms := newCluster(3, 12, false) // node 1 owns pages 4-7
	n1 := ms[1]
	pulls := func(rd Ready) map[PageID]NodeID {
		asked := map[PageID]NodeID{}
		for _, msg := range rd.Messages {
			if msg.Type == MsgPull {
				asked[msg.Page] = msg.To
			}
		}
		return asked
	}
	n1.Leave()
	n1.Ready()
	n1.Pull()
	first := pulls(n1.Ready())
	if want := map[PageID]NodeID{4: 0, 5: 0, 6: 2, 7: 2}; !reflect.DeepEqual(first, want) {
		t.Fatalf("first round asks %v, want %v", first, want)
	}
	// Node 0 takes page 4; nobody has pulled the rest yet.
	step(t, n1, request(0, 1, 4, 0))
	expect(t, n1, acts(invalidate(4)))
	n1.InvalidateDone(4)
	n1.Ready()
	if n1.Owns(4) {
		t.Fatal("the leaver still owns page 4 after handing it on")
	}
	n1.Pull()
	if got, want := pulls(n1.Ready()), map[PageID]NodeID{5: 0, 6: 2, 7: 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("second round asks %v, want %v", got, want)
	}
}

// TestStrangersTakeNoPart: node 2 died and node 0 recovered without it, so
// in node 1's epoch node 2 is no member. Whatever it sends, stamped with
// the right epoch or a future one, and whatever a member asks on its
// behalf, is dropped and counted: it gets no page, moves no hint, and
// leaves nothing waiting for a later epoch. A member's request is served.
func TestStrangersTakeNoPart(t *testing.T) {
	n1 := NewMachine(Config{Self: 1, Nodes: 3, Pages: 6, Replicas: 1}) // owns pages 2-3
	e := NextEpoch(0, 0)
	strangers := func() []Message {
		msgs := []Message{
			request(2, 1, 2, 2),
			request(0, 1, 3, 2), // a member asking on the stranger's behalf
			{Type: MsgPull, From: 2, To: 1, Page: 0},
			{Type: MsgReplica, From: 2, To: 1, Page: 0, Version: 9, Data: []byte{1}},
			{Type: MsgPage, From: 2, To: 1, Page: 4, Requester: 1, Version: 9, Data: []byte{1}},
			{Type: MsgLeaving, From: 2, To: 1},
			{Type: MsgRequest, From: 2, To: 1, Page: 2, Requester: 2, Epoch: e + 1<<16},
		}
		for i := range msgs {
			if msgs[i].Epoch == 0 {
				msgs[i].Epoch = e
			}
		}
		return msgs
	}
	check := func(msgs []Message) {
		t.Helper()
		for _, msg := range msgs {
			before, strangersBefore := slices.Clone(n1.pages), n1.counters.Strangers
			step(t, n1, msg)
			expect(t, n1, Ready{})
			if !slices.Equal(before, n1.pages) || n1.counters.Strangers != strangersBefore+1 {
				t.Fatalf("Step(%v) from a stranger changed %+v into %+v (strangers %d, then %d)", msg, before, n1.pages, strangersBefore, n1.counters.Strangers)
			}
		}
		if n1.group.Leaving(2) {
			t.Fatal("a stranger's leave was taken")
		}
	}

	step(t, n1, Message{Type: MsgRecoverQuery, From: 0, To: 1, Epoch: e, Data: EncodeNodes([]NodeID{0, 1})})
	n1.Ready()
	member := request(0, 1, 2, 0)
	member.Epoch = e
	if err := n1.Step(member); err != ErrLater {
		t.Fatalf("a member's request while frozen: %v, want ErrLater", err)
	}
	step(t, n1, Message{Type: MsgRecoverInstall, From: 0, To: 1, Epoch: e, Data: EncodeInstall([]NodeID{0, 0, 1, 1, 1, 1}, nil)})
	n1.Ready()
	check(strangers())

	step(t, n1, member) // as the driver steps it again after Install
	expect(t, n1, acts(invalidate(2)))
}
