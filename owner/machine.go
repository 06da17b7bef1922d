package owner

import (
	"errors"
	"fmt"
)

// ErrLater is Step's answer for a message from an epoch this node has not
// installed yet: the driver keeps it and steps it again after ActInstalled.
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
	// Replicas is how many other nodes keep a copy of each page
	// (copies.go); with none, a dead node's pages die with it (lost.go).
	Replicas int
	// Rejoin starts a node restarted into a running cluster: it holds no
	// page and waits, frozen, for the epoch that makes it a member. Live
	// are the nodes alive when it connected, which it asks to take it back
	// (MsgJoin).
	Rejoin bool
	Live   []NodeID
}

// InitialOwner is the node that owns page p at start: node i of n owns
// pages [i*P/n, (i+1)*P/n).
func InitialOwner(p PageID, nodes, pages int) NodeID {
	return NodeID(((uint64(p)+1)*uint64(nodes) - 1) / uint64(pages))
}

// Machine is the protocol of one node as a pure state machine, in the style
// of etcd-io/raft's raft.go: events in (Access, Step, the kernel's and the
// timers' reports, PeerLost), and out of Ready the actions and messages
// they call for. It owns no goroutines, sockets, clocks, bytes or logging,
// and is not safe for concurrent use: the driver serializes all calls.
//
// The page protocol (handoff.go) moves each page's bytes and ownership
// between nodes one hand-off at a time. Everything else changes ownership
// only through epochs: recovery (recovery.go) from the copies nodes keep
// (copies.go) when a member dies, and a graceful leave (leave.go). Who is in
// the cluster is its Membership (membership.go).
type Machine struct {
	cfg   Config
	pages []pageState
	group Membership
	// epoch is the configuration this node is in; frozen means it was
	// asked to recover into epoch and moves no page until Install.
	// maxEpoch is the highest epoch it has seen.
	epoch, maxEpoch uint32
	frozen          bool
	// coord is the recovery this node coordinates, if any.
	coord *coordination
	// copies are the versions of the copies of others' pages kept here.
	copies map[PageID]uint64
	// copySets are the read copies of pages this node owns, and the read
	// requests waiting here; readCopies are the read copies local
	// programs may read (readcopies.go).
	copySets   map[PageID]*copySet
	readCopies map[PageID]*readCopy
	// closing: this node shuts down or leaves, and takes no page any
	// more; leaving: it leaves, handing its pages on. handedOff are the
	// pages it handed on since, not yet acknowledged, by receiver.
	closing, leaving bool
	handedOff        map[PageID]NodeID
	// handTo is, while leaving, the survivor each page held here is to
	// go to (None: not planned yet), kept from one round of Pull to the
	// next; pulls counts the rounds it has been asked to.
	handTo   []NodeID
	pulls    []uint8
	rd       Ready
	counters Counters
}

type phase uint8

const (
	absent      phase = iota // not here and not asked for
	requesting               // asked for, on its way here
	owned                    // here; local programs may use it
	leaving                  // here, being taken from local programs before it goes to peer (None: it stays)
	lost                     // its owner died and no copy survived: accesses fail
	downgrading              // here, being taken from local programs' writable mapping, to give read copies
)

// pageState is one node's knowledge of one page: 24 bytes, so a segment of
// a million pages costs 24 MiB.
type pageState struct {
	ver     uint64 // owned: the version of the bytes here, bumped at each hand-off and sync
	prob    NodeID // probable owner; Self when this node is the tail of the page's queue
	next    NodeID // who gets the page after this node; None when nobody waits
	peer    NodeID // requesting: the node asked; leaving: the receiver
	phase   phase
	held    bool // owned and inside the hold window
	touched bool // leaving or downgrading, and a local access was served meanwhile: invalidate again
	wanted  bool // a local access waits for it: ask again if a recovery calls the request off
	// invalidating: an ActInvalidate of the page is under way.
	invalidating bool
	// shared: owned, and local programs' writable mapping does not have
	// it; read copies may exist, and a local access waits until they are
	// back (readcopies.go).
	shared bool
	// reading: a read request for it is out; readWanted: a local access
	// through segment.ro waits for a copy.
	reading, readWanted bool
}

// NewMachine returns the machine of cfg.Self at cluster start, or, with
// cfg.Rejoin, of a restarted node asking to be taken back.
func NewMachine(cfg Config) *Machine {
	m := &Machine{
		cfg:        cfg,
		pages:      make([]pageState, cfg.Pages),
		group:      newMembership(cfg.Self, cfg.Nodes, cfg.Rejoin, cfg.Live),
		copies:     map[PageID]uint64{},
		copySets:   map[PageID]*copySet{},
		readCopies: map[PageID]*readCopy{},
		handedOff:  map[PageID]NodeID{},
	}
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
	if cfg.Rejoin {
		m.frozen = true
		for _, id := range cfg.Live {
			if id != cfg.Self {
				m.send(Message{Type: MsgJoin, To: id, Requester: cfg.Self})
			}
		}
	}
	return m
}

// Step feeds a message from a peer. A message from an earlier epoch is
// dropped: recovery has decided without it. So is page traffic from a node
// that is neither a member of this node's epoch nor of the one it is frozen
// into, and a request on behalf of such a node: only members take part,
// whatever a connected stranger sends or asks for. A message from an epoch
// not installed here yet gets ErrLater. Any other error means the message
// contradicts the protocol; it has then changed nothing.
func (m *Machine) Step(msg Message) error {
	if int(msg.From) >= m.cfg.Nodes || int(msg.Requester) >= m.cfg.Nodes && (msg.Type == MsgRequest || msg.Type == MsgReadRequest || msg.Type == MsgJoin) {
		return fmt.Errorf("%v: no such node (cluster has %d)", msg, m.cfg.Nodes)
	}
	switch msg.Type {
	case MsgRecoverQuery:
		return m.stepQuery(msg)
	case MsgRecoverReply:
		return m.stepReport(msg)
	case MsgRecoverInstall:
		return m.stepInstall(msg)
	case MsgJoin:
		m.stepJoin(msg)
		return nil
	case MsgLost:
		return m.stepLost(msg)
	case MsgLeaving:
		if !m.group.Member(msg.From) {
			m.counters.Strangers++ // only a member has a role to hand on
			return nil
		}
		m.group.leaving[msg.From] = true
		// It may have been the coordinator: the next one must hear of
		// the losses this node told it of.
		m.recover()
		m.reportLosses()
		return nil
	case MsgLeft:
		if msg.Epoch > m.epoch || m.frozen && msg.Epoch == m.epoch {
			// Its hints are of an epoch whose owner map this node has
			// yet to install: route around it after that.
			return ErrLater
		}
		return m.stepLeft(msg)
	case MsgPageAck:
		m.stepPageAck(msg.Page, msg.From, msg.Version)
		return nil
	}
	switch {
	case msg.Epoch < m.epoch:
		m.counters.Stale++
		return nil
	case !m.takesPart(msg.From, m.group.Admitted), msg.Type == MsgRequest && !m.takesPart(msg.Requester, m.group.Member):
		// Before ErrLater, so that a stranger cannot make the driver
		// keep its messages for an epoch that never comes.
		m.counters.Strangers++
		return nil
	case msg.Epoch > m.epoch || m.frozen:
		return ErrLater
	}
	if int(msg.Page) >= len(m.pages) {
		return fmt.Errorf("%v: no such page (segment has %d)", msg, len(m.pages))
	}
	switch msg.Type {
	case MsgRequest:
		return m.stepRequest(msg)
	case MsgPage:
		return m.stepPage(msg)
	case MsgReplica:
		m.stepReplica(msg)
		return nil
	case MsgPull:
		m.stepPull(msg)
		return nil
	case MsgReadRequest:
		return m.stepReadRequest(msg)
	case MsgReadCopy:
		m.stepReadCopy(msg)
		return nil
	case MsgRevoke:
		m.dropRead(msg.Page, msg.From)
		return nil
	case MsgRevokeAck:
		m.revokeAcked(msg.Page, msg.From)
		return nil
	}
	return fmt.Errorf("%v: unknown message type", msg)
}

// takesPart reports whether node id takes part in the page protocol here:
// in, which is Member or Admitted, says so of this node's epoch, or id is
// a member of the epoch this node is frozen into (its traffic waits for
// Install, and is checked again then).
func (m *Machine) takesPart(id NodeID, in func(NodeID) bool) bool {
	return in(id) || m.group.Next(id)
}

// Owns reports whether page p's bytes and ownership are here: programs here
// may use them and no other node has them.
func (m *Machine) Owns(p PageID) bool {
	ph := m.pages[p].phase
	return ph == owned || ph == leaving || ph == downgrading
}

// Owner is this node's best knowledge of page p's owner: itself when it owns
// the page, else the node it would ask; None for a page that was lost.
func (m *Machine) Owner(p PageID) NodeID {
	ps := &m.pages[p]
	switch ps.phase {
	case owned, leaving, downgrading:
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

// Holds reports whether page p is here or on its way here: a node that
// holds no page in either state can leave.
func (m *Machine) Holds(p PageID) bool { return m.pages[p].phase != absent && m.pages[p].phase != lost }

// Group is this node's view of the cluster's membership.
func (m *Machine) Group() *Membership { return &m.group }

// Epoch is the epoch this node is in, and whether it waits for Install.
func (m *Machine) Epoch() (uint32, bool) { return m.epoch, m.frozen }

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
