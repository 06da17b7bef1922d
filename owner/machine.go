package owner

import (
	"errors"
	"fmt"
)

// ErrLater is Step's answer for a message from an epoch this node has not
// installed yet: the driver keeps it and steps it again after Install.
var ErrLater = errors.New("message from an epoch not installed yet")

// Config describes one node's view of the cluster.
type Config struct {
	Self  NodeID
	Nodes int
	Pages int
	// Hold keeps a page that just arrived for a hold window (Mirage's Δ)
	// before the next request for it is served, so that each visit of a
	// contended page does useful work. The driver times the window.
	Hold bool
	// Rejoin starts a node restarted into a running cluster: it holds
	// no page and waits, frozen, for the epoch that makes it a member.
	Rejoin bool
}

// InitialOwner is the node that owns page p at start: node i of n owns
// pages [i*P/n, (i+1)*P/n).
func InitialOwner(p PageID, nodes, pages int) NodeID {
	return NodeID(((uint64(p)+1)*uint64(nodes) - 1) / uint64(pages))
}

type phase uint8

const (
	absent     phase = iota // not here and not asked for
	requesting              // asked for, on its way here
	owned                   // here; local programs may use it
	leaving                 // here, being taken from local programs before it goes to peer (None: it stays)
	lost                    // its owner died and no copy survived: accesses fail
)

// pageState is one node's knowledge of one page: 16 bytes, so a segment of
// a million pages costs 16 MiB.
type pageState struct {
	ver     uint64 // owned: the version of the bytes here, bumped at each hand-off and sync
	prob    NodeID // probable owner; Self when this node is the tail of the page's queue
	next    NodeID // who gets the page after this node; None when nobody waits
	peer    NodeID // requesting: the node asked; leaving: the receiver
	phase   phase
	held    bool // owned and inside the hold window
	touched bool // leaving, and a local access was served meanwhile: invalidate again
}

// Machine is the ownership protocol of one node as a pure state machine.
// It is not safe for concurrent use; the driver serializes all calls.
type Machine struct {
	cfg   Config
	pages []pageState
	// epoch is the configuration this node is in; frozen means it was
	// asked to recover into epoch and moves no page until Install.
	epoch    uint32
	frozen   bool
	rd       Ready
	counters Counters
}

// NewMachine returns the machine of cfg.Self at cluster start.
func NewMachine(cfg Config) *Machine {
	m := &Machine{cfg: cfg, pages: make([]pageState, cfg.Pages)}
	for i := range m.pages {
		o := InitialOwner(PageID(i), cfg.Nodes, cfg.Pages)
		ps := &m.pages[i]
		ps.prob, ps.next, ps.peer = o, None, None
		switch {
		case cfg.Rejoin:
			ps.prob = None // unknown until the epoch that takes it in
		case o == cfg.Self:
			ps.phase = owned
		}
	}
	m.frozen = cfg.Rejoin
	return m
}

// Access is a local program's access to page p. It reports whether the page
// is here, in which case the program can be served from the page store at
// once. Otherwise the page is asked for (once, however many accesses wait)
// and an ActServe follows when it arrives.
func (m *Machine) Access(p PageID) bool {
	ps := &m.pages[p]
	switch ps.phase {
	case owned:
		return true
	case leaving:
		// The kernel dropped the page before this access reached us, so
		// the bytes here are the latest; but the program now has the page
		// again, so the invalidation must run once more before it goes.
		ps.touched = true
		return true
	case absent:
		if m.frozen {
			return false // the driver asks again after Install
		}
		m.send(Message{Type: MsgRequest, To: ps.prob, Page: p, Requester: m.cfg.Self})
		ps.phase, ps.peer, ps.prob = requesting, ps.prob, m.cfg.Self
	}
	return false
}

// Step feeds a message from a peer. A message from an earlier epoch is
// dropped: recovery has decided without it. One from an epoch not installed
// here yet gets ErrLater. Any other error means the message contradicts the
// protocol; it has then changed nothing.
func (m *Machine) Step(msg Message) error {
	switch {
	case msg.Epoch < m.epoch:
		return nil
	case msg.Epoch > m.epoch || m.frozen:
		return ErrLater
	}
	if int(msg.Page) >= len(m.pages) {
		return fmt.Errorf("%v: no such page (segment has %d)", msg, len(m.pages))
	}
	if int(msg.Requester) >= m.cfg.Nodes || int(msg.From) >= m.cfg.Nodes {
		return fmt.Errorf("%v: no such node (cluster has %d)", msg, m.cfg.Nodes)
	}
	switch msg.Type {
	case MsgRequest:
		return m.stepRequest(msg)
	case MsgPage:
		return m.stepPage(msg)
	}
	return fmt.Errorf("%v: unknown message type", msg)
}

func (m *Machine) stepRequest(msg Message) error {
	ps := &m.pages[msg.Page]
	r := msg.Requester
	if r == m.cfg.Self {
		return fmt.Errorf("%v: our own request came back", msg)
	}
	if ps.prob != m.cfg.Self {
		// Not the tail of the queue: pass it on towards the tail, and
		// point at the requester, who is the new tail.
		m.send(Message{Type: MsgRequest, To: ps.prob, Page: msg.Page, Requester: r})
		ps.prob = r
		m.counters.Forwarded++
		return nil
	}
	switch {
	case ps.next != None || ps.phase == absent || ps.phase == lost || ps.phase == leaving && ps.peer != None:
		return fmt.Errorf("%v: we are the tail but cannot queue it (phase %d, next %d)", msg, ps.phase, ps.next)
	case ps.phase == owned && !ps.held:
		m.give(msg.Page, r)
	default:
		// Still on its way here, or inside the hold window: r is next.
		ps.next = r
		m.counters.Queued++
		if ps.phase == owned {
			m.counters.HoldWaits++
		}
	}
	ps.prob = r
	return nil
}

func (m *Machine) stepPage(msg Message) error {
	ps := &m.pages[msg.Page]
	if ps.phase != requesting {
		return fmt.Errorf("%v: page arrived but was not asked for (phase %d)", msg, ps.phase)
	}
	ps.phase, ps.peer, ps.ver = owned, None, msg.Version
	// Serve the local access before anything can take the page away: the
	// kernel holds the page locked until that access is answered, and an
	// invalidation waits for the lock.
	m.act(ActServe, msg.Page)
	switch {
	case m.cfg.Hold:
		ps.held = true
		m.act(ActHold, msg.Page)
	case ps.next != None:
		m.give(msg.Page, ps.next)
	}
	return nil
}

// HoldExpired ends the hold window of page p and serves a waiting request.
func (m *Machine) HoldExpired(p PageID) {
	ps := &m.pages[p]
	if !ps.held {
		return
	}
	ps.held = false
	if ps.phase == owned && ps.next != None {
		m.give(p, ps.next)
	}
}

// InvalidateDone reports that local programs no longer have page p and that
// the kernel wrote its dirty data back to the page store.
func (m *Machine) InvalidateDone(p PageID) {
	ps := &m.pages[p]
	if ps.phase != leaving {
		return
	}
	if ps.peer == None {
		// Recovery stopped this hand-off; the page stays.
		ps.phase, ps.touched = owned, false
		if ps.next != None && !ps.held {
			m.give(p, ps.next)
		}
		return
	}
	if ps.touched {
		ps.touched = false
		m.counters.Invalidations++
		m.counters.Reinvalidations++
		m.act(ActInvalidate, p)
		return
	}
	ps.ver++
	m.send(Message{Type: MsgPage, To: ps.peer, Page: p, Requester: ps.peer, Version: ps.ver})
	ps.phase, ps.peer = absent, None
}

// give starts handing page p to node to.
func (m *Machine) give(p PageID, to NodeID) {
	ps := &m.pages[p]
	ps.phase, ps.peer, ps.next, ps.touched = leaving, to, None, false
	m.counters.Invalidations++
	m.act(ActInvalidate, p)
}

// Owns reports whether page p's bytes and ownership are here: programs here
// may use them and no other node has them.
func (m *Machine) Owns(p PageID) bool {
	ph := m.pages[p].phase
	return ph == owned || ph == leaving
}

// Owner is this node's best knowledge of page p's owner: itself when it owns
// the page, else the node it would ask.
func (m *Machine) Owner(p PageID) NodeID {
	ps := &m.pages[p]
	switch ps.phase {
	case owned, leaving:
		return m.cfg.Self
	case requesting:
		return ps.peer
	case lost:
		return None
	}
	return ps.prob
}

// Lost reports whether page p died with its owner.
func (m *Machine) Lost(p PageID) bool { return m.pages[p].phase == lost }

// Version is the version of page p's bytes here, if this node owns it.
func (m *Machine) Version(p PageID) uint64 { return m.pages[p].ver }

// Sync starts a new version of page p, which is here, for copies to be
// made of; it reports false for a page that is not. A page leaving gets
// one more version when it is handed on.
func (m *Machine) Sync(p PageID) (uint64, bool) {
	ps := &m.pages[p]
	if !m.Owns(p) {
		return 0, false
	}
	ps.ver++
	return ps.ver, true
}

// Splice routes around node gone, which has left holding no pages: every
// hint that points at it is replaced by gone's own hint for that page, so
// requests follow the path they would have taken through gone. Hints gone
// had of this node are contradictory for pages this node does not hold, and
// are left pointing at gone.
func (m *Machine) Splice(gone NodeID, hint func(PageID) NodeID) {
	for i := range m.pages {
		ps := &m.pages[i]
		if ps.prob != gone {
			continue
		}
		if h := hint(PageID(i)); h != gone && h != m.cfg.Self && int(h) < m.cfg.Nodes {
			ps.prob = h
		}
	}
}

// Holds reports whether page p is here or on its way here: a node that
// holds no page in either state can leave.
func (m *Machine) Holds(p PageID) bool { return m.pages[p].phase != absent }

// Counters returns what the machine has done so far.
func (m *Machine) Counters() Counters { return m.counters }

// Pages is the number of pages in the segment.
func (m *Machine) Pages() int { return len(m.pages) }

// Ready returns what the events since the last call ask the driver to do.
func (m *Machine) Ready() Ready {
	rd := m.rd
	m.rd = Ready{}
	return rd
}

func (m *Machine) send(msg Message) {
	msg.From, msg.Epoch = m.cfg.Self, m.epoch
	m.rd.Messages = append(m.rd.Messages, msg)
}

func (m *Machine) act(k ActionKind, p PageID) {
	m.rd.Actions = append(m.rd.Actions, Action{Kind: k, Page: p})
}
