package owner

import "fmt"

// Read copies: many readers or one writer per page, as in IVY. Programs
// that only read map segment.ro; a fault there is a shared access
// (AccessRead), served by a read copy of the page that any number of nodes
// may hold at once. An access through segment stays exclusive (FUSE cannot
// tell a read from a write there): before it is served, every copy of the
// page in the cluster is taken back (MsgRevoke) and acknowledged
// (MsgRevokeAck), the owner's own segment.ro cache included.
//
// The owner keeps each page's copy set (copySet). To give copies, it first
// takes the page from its own programs' writable mapping (a downgrade: the
// kernel writes dirty data back), and marks the page shared: while it is,
// a local access through segment waits until the copies are back (an
// upgrade), because a program writing the page would not tell the daemon.
// A hand-off of a shared page takes the copies back before the page goes.
//
// Read requests travel along the probable owners like requests, but leave
// the hints alone (a reader joins no queue). The node at the tail of the
// page's queue serves them once it has the page, outside its hold window;
// if it hands the page on first, it forwards them to the receiver.
//
// Taking a copy from programs has the same trap as taking a page: the
// kernel invalidation waits for a READ of that page under way, so a READ
// that arrives meanwhile is served from the bytes still here (nobody can
// write them before the revocation is acknowledged) and the invalidation
// runs again (touched), before the holder says it is done.

// copySet is an owned page's read copies, and the read requests waiting
// for it here.
type copySet struct {
	holders  nodeSet // nodes holding a copy now (Self: this node's programs, through segment.ro)
	revoking nodeSet // holders told to give their copy up, not done yet
	readers  nodeSet // read requests waiting here (Self: local shared accesses)
}

// readCopy is a copy of a page that this node's programs may read through
// segment.ro: sent by the owner, or the owner's own, served from its page
// store (from == Self).
type readCopy struct {
	ver      uint64
	from     NodeID
	revoking bool   // being taken from local programs (ActInvalidateRead)
	touched  bool   // revoking, and a local read was served meanwhile: invalidate again
	ackTo    NodeID // revoking: who waits for it to be done, None for nobody
	// parked: taken from local programs while this node was frozen. Its
	// bytes stay, unread, until the epoch is installed: this node's
	// recovery report named the copy, and the plan may promote it.
	parked bool
}

// AccessRead is a local program's access to page p through segment.ro.
// With a read copy here it is served at once, from the page store if this
// node owns the page and from the read copy store otherwise. Otherwise a
// copy is asked for and ActServeRead follows, or ActFail.
func (m *Machine) AccessRead(p PageID) AccessResult {
	ps := &m.pages[p]
	if c := m.readCopies[p]; c != nil && !c.parked {
		c.touched = c.touched || c.revoking
		return AccessHere
	}
	switch {
	case ps.phase == lost:
		return AccessLost
	case m.closing && !m.Owns(p):
		return AccessClosed
	case m.Owns(p) || ps.phase == requesting:
		if ps.phase == owned && ps.shared && m.copySet(p).revoking.empty() {
			m.copySet(p).holders.add(m.cfg.Self)
			m.readCopies[p] = &readCopy{ver: ps.ver, from: m.cfg.Self, ackTo: None}
			return AccessHere
		}
		if m.closing {
			return AccessClosed
		}
		// Served here once the page is, and shared.
		ps.readWanted = true
		m.copySet(p).readers.add(m.cfg.Self)
		m.settle(p)
		return AccessWaits
	case !m.recovers() && m.group.Dead(ps.prob):
		return AccessOwnerDead
	}
	ps.readWanted = true
	m.askRead(p)
	return AccessWaits
}

// ReadHere reports whether an access to page p through segment.ro would
// be served at once, as AccessRead would, without doing anything.
func (m *Machine) ReadHere(p PageID) bool {
	if c := m.readCopies[p]; c != nil {
		return !c.parked
	}
	cs := m.copySets[p]
	return m.pages[p].phase == owned && m.pages[p].shared && (cs == nil || cs.revoking.empty())
}

// AskRead asks for a read copy of page p with no local access waiting for
// it (a forward sweep through segment.ro), unless one is here or on its
// way, or p is.
func (m *Machine) AskRead(p PageID) {
	if m.readCopies[p] == nil && m.pages[p].phase == absent && !m.closing {
		m.askRead(p)
	}
}

func (m *Machine) askRead(p PageID) {
	ps := &m.pages[p]
	if ps.reading || m.frozen {
		return // asked already, or asked again at install
	}
	ps.reading = true
	m.send(Message{Type: MsgReadRequest, To: ps.prob, Page: p, Requester: m.cfg.Self})
}

func (m *Machine) stepReadRequest(msg Message) error {
	ps, r := &m.pages[msg.Page], msg.Requester
	switch {
	case !m.group.Member(r):
		return nil // it left, or died: no copy for it
	case r == m.cfg.Self && ps.prob == m.cfg.Self:
		// It chased the tail of the queue, which this node became
		// since it asked: the page comes here.
		ps.reading = false
		if !ps.readWanted {
			return nil
		}
	case ps.prob != m.cfg.Self:
		m.send(Message{Type: MsgReadRequest, To: ps.prob, Page: msg.Page, Requester: r})
		m.counters.Forwarded++
		return nil
	case ps.phase == absent || ps.phase == lost:
		return fmt.Errorf("%v: we are the tail but cannot serve it (phase %d)", msg, ps.phase)
	}
	m.copySet(msg.Page).readers.add(r)
	m.settle(msg.Page)
	return nil
}

// settle decides what owned page p does next once nothing is under way
// for it: serve the local access waiting to write it (its copies are
// back), hand it to the next node of its queue, or serve the read requests
// waiting, first taking it from local programs' writable mapping if they
// may still write it.
func (m *Machine) settle(p PageID) {
	ps, cs := &m.pages[p], m.copySets[p]
	if ps.phase != owned || cs != nil && !cs.revoking.empty() {
		return
	}
	switch {
	case ps.wanted && ps.shared:
		if cs != nil && !cs.holders.empty() {
			m.revoke(p)
			return
		}
		ps.shared, ps.wanted = false, false
		m.act(ActServe, p)
		if m.cfg.Hold {
			ps.held = true
			m.act(ActHold, p)
		}
		m.settle(p) // for the queue and the readers
		return
	case ps.held || m.frozen:
	case ps.next != None:
		m.give(p, ps.next)
	case cs == nil || cs.readers.empty():
	case !ps.shared:
		ps.phase, ps.touched, ps.invalidating = downgrading, false, true
		m.counters.Invalidations++
		m.act(ActInvalidate, p)
	default:
		m.serveReaders(p)
	}
	m.tidy(p)
}

// serveReaders gives the read requests waiting for shared page p a copy.
func (m *Machine) serveReaders(p PageID) {
	ps, cs := &m.pages[p], m.copySets[p]
	for _, r := range cs.readers.ids() {
		cs.holders.add(r)
		if r == m.cfg.Self {
			ps.readWanted = false
			m.readCopies[p] = &readCopy{ver: ps.ver, from: m.cfg.Self, ackTo: None}
			m.act(ActServeRead, p)
			continue
		}
		m.counters.CopiesSent++
		m.send(Message{Type: MsgReadCopy, To: r, Page: p, Version: ps.ver})
	}
	cs.readers = nil
}

// forwardReaders sends the read requests waiting for page p to to, which
// is about to get the page. A local access waiting for a copy asks to's
// once p is gone; to's own request needs nothing: it gets the page.
func (m *Machine) forwardReaders(p PageID, to NodeID) {
	cs := m.copySets[p]
	if cs == nil {
		return
	}
	for _, r := range cs.readers.ids() {
		switch r {
		case m.cfg.Self:
			if !m.closing {
				m.pages[p].reading = true
				m.send(Message{Type: MsgReadRequest, To: to, Page: p, Requester: r})
			}
		case to:
		default:
			m.send(Message{Type: MsgReadRequest, To: to, Page: p, Requester: r})
		}
	}
	cs.readers = nil
}

// revoke takes every copy of owned page p back; revoked follows when all
// are.
func (m *Machine) revoke(p PageID) {
	cs := m.copySets[p]
	if cs == nil {
		m.revoked(p)
		return
	}
	holders := cs.holders.ids()
	cs.holders = nil
	for _, id := range holders {
		cs.revoking.add(id)
	}
	for _, id := range holders {
		m.counters.Revocations++
		if id == m.cfg.Self {
			m.dropRead(p, m.cfg.Self)
		} else {
			m.send(Message{Type: MsgRevoke, To: id, Page: p})
		}
	}
	m.revoked(p)
}

// revokeAcked notes that node id gave its copy of page p up.
func (m *Machine) revokeAcked(p PageID, id NodeID) {
	if cs := m.copySets[p]; cs != nil && cs.revoking.has(id) {
		cs.revoking.del(id)
		m.revoked(p)
	}
}

// revoked goes on with page p once no copy of it is left to take back.
func (m *Machine) revoked(p PageID) {
	if cs := m.copySets[p]; cs != nil && !cs.revoking.empty() {
		return
	}
	if m.pages[p].phase == leaving {
		m.handOff(p)
		return
	}
	m.settle(p)
}

// dropRead takes this node's read copy of page p from local programs
// (ActInvalidateRead) and forgets it, then tells ackTo (None: nobody).
func (m *Machine) dropRead(p PageID, ackTo NodeID) {
	c := m.readCopies[p]
	switch {
	case c == nil:
		m.ackRevoke(p, ackTo)
	case c.revoking || c.parked:
		if ackTo != None {
			c.ackTo = ackTo
		}
	default:
		c.revoking, c.touched, c.ackTo = true, false, ackTo
		m.act(ActInvalidateRead, p)
	}
}

// InvalidateReadDone reports that local programs no longer have the read
// copy of page p.
func (m *Machine) InvalidateReadDone(p PageID) {
	c := m.readCopies[p]
	if c == nil || !c.revoking {
		return
	}
	if c.touched {
		c.touched = false
		m.counters.Reinvalidations++
		m.act(ActInvalidateRead, p)
		return
	}
	if m.frozen && c.from != m.cfg.Self {
		c.revoking, c.parked = false, true
		return
	}
	m.forgetRead(p)
}

// forgetRead drops this node's read copy of page p, which local programs
// no longer have, and says so to whoever waits for it.
func (m *Machine) forgetRead(p PageID) {
	c := m.readCopies[p]
	delete(m.readCopies, p)
	if c.from != m.cfg.Self {
		m.act(ActDropReadCopy, p)
	}
	m.ackRevoke(p, c.ackTo)
}

func (m *Machine) ackRevoke(p PageID, to NodeID) {
	switch to {
	case None:
	case m.cfg.Self:
		m.revokeAcked(p, to)
	default:
		m.send(Message{Type: MsgRevokeAck, To: to, Page: p})
	}
}

// stepReadCopy takes a read copy this node asked for and serves the local
// accesses waiting for it. A copy nobody asks for any more is dropped.
func (m *Machine) stepReadCopy(msg Message) {
	ps := &m.pages[msg.Page]
	if !ps.reading || ps.phase != absent || m.readCopies[msg.Page] != nil {
		return // (a parked copy is resolved at install, where this one is asked again)
	}
	ps.reading = false
	m.readCopies[msg.Page] = &readCopy{ver: msg.Version, from: msg.From, ackTo: None}
	m.counters.CopiesTaken++
	m.act(ActTakeReadCopy, msg.Page)
	if ps.readWanted {
		ps.readWanted = false
		m.act(ActServeRead, msg.Page)
	}
}

// dropReadCopiesFrom takes back every read copy that node id sent this
// node: id is gone, and without it nothing would take them back before
// the page is written again.
func (m *Machine) dropReadCopiesFrom(id NodeID) {
	for p, c := range m.readCopies {
		if c.from == id {
			c.ackTo = None
			m.dropRead(p, None)
		}
	}
}

// forgetHolder takes node id out of every copy set: it is gone, and its
// copies with it. Revocations that waited for it go on.
func (m *Machine) forgetHolder(id NodeID) {
	for p, cs := range m.copySets {
		cs.holders.del(id)
		cs.readers.del(id)
		if cs.revoking.has(id) {
			m.revokeAcked(p, id)
		}
		m.tidy(p)
	}
}

// copySet is page p's copy set, made on first use.
func (m *Machine) copySet(p PageID) *copySet {
	cs := m.copySets[p]
	if cs == nil {
		cs = &copySet{}
		m.copySets[p] = cs
	}
	return cs
}

// tidy forgets page p's copy set once it is empty.
func (m *Machine) tidy(p PageID) {
	if cs := m.copySets[p]; cs != nil && cs.holders.empty() && cs.revoking.empty() && cs.readers.empty() {
		delete(m.copySets, p)
	}
}

// ReadCopies is how many read copies local programs may read now.
func (m *Machine) ReadCopies() int { return len(m.readCopies) }

// nodeSet is a set of nodes, one bit each.
type nodeSet []uint64

func (s *nodeSet) add(id NodeID) {
	for len(*s) <= int(id)/64 {
		*s = append(*s, 0)
	}
	(*s)[id/64] |= 1 << (id % 64)
}

func (s nodeSet) has(id NodeID) bool { return int(id)/64 < len(s) && s[id/64]&(1<<(id%64)) != 0 }

func (s nodeSet) del(id NodeID) {
	if int(id)/64 < len(s) {
		s[id/64] &^= 1 << (id % 64)
	}
}

func (s nodeSet) empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}

// ids lists the set in order.
func (s nodeSet) ids() []NodeID {
	var out []NodeID
	for i, w := range s {
		for b := range 64 {
			if w&(1<<b) != 0 {
				out = append(out, NodeID(i*64+b))
			}
		}
	}
	return out
}
