package owner

import "fmt"

// The page protocol: single reader / single writer, page by page. A node
// that needs a page it does not own asks for it; the owner takes it from
// its own programs (ActInvalidate, InvalidateDone) and hands bytes and
// ownership over in one MsgPage. Owners are found with Li & Hudak's dynamic
// distributed manager (a probable owner per page, hints updated along the
// way) and concurrent requests queue across the cluster as in Naimi and
// Trehel (each waiting node remembers one successor), so no request is
// lost and a request takes at most n-1 hops. A page that arrives stays for
// a hold window (Mirage's Δ) before the next request for it is served.

// AccessResult is what became of a local access.
type AccessResult uint8

const (
	// AccessHere: the page is here; serve the access from the page store.
	AccessHere AccessResult = iota
	// AccessWaits: the page was asked for (or will be, once a recovery
	// under way is installed); ActServe or ActFail follows.
	AccessWaits
	// AccessLost: the page died with its owner and no copy survived.
	AccessLost
	// AccessOwnerDead: the page's owner, as far as this node knows, is
	// dead, and the cluster keeps no copies to recover it from.
	AccessOwnerDead
	// AccessClosed: this node shuts down or leaves and takes no page.
	AccessClosed
)

// Access is a local program's access to page p. A page that is here can be
// served from the page store at once. Otherwise the page is asked for
// (once, however many accesses wait) and an ActServe follows when it
// arrives, or an ActFail if it never can.
func (m *Machine) Access(p PageID) AccessResult {
	ps := &m.pages[p]
	switch ps.phase {
	case owned:
		if !ps.shared {
			return AccessHere
		}
		if cs := m.copySets[p]; cs == nil || cs.holders.empty() && cs.revoking.empty() {
			ps.shared = false
			return AccessHere
		}
		if m.closing {
			return AccessClosed // no new work: it hands its pages on, or shuts down
		}
		// Read copies are out: they come back first (an upgrade).
		ps.wanted = true
		m.settle(p)
		return AccessWaits
	case leaving, downgrading:
		if ps.phase == leaving && ps.shared {
			// Its copies are being taken back, and no invalidation
			// runs: the access waits to ask for the page again, unless
			// this node takes no pages.
			if m.closing {
				return AccessClosed
			}
			ps.wanted = true
			return AccessWaits
		}
		// The kernel dropped the page before this access reached us, so
		// the bytes here are the latest; but the program now has the page
		// again, so the invalidation must run once more before it goes.
		ps.touched = true
		return AccessHere
	case lost:
		return AccessLost
	}
	switch {
	case m.closing:
		return AccessClosed
	case !m.recovers() && ps.phase == absent && m.group.Dead(ps.prob):
		// No epoch will tell where the page is: it died with its
		// owner, as far as this node can know. Otherwise it waits:
		// recovery finds its owner, or marks it lost, and asks again.
		// A page asked for already waits too: its request is queued,
		// maybe past the dead node.
		return AccessOwnerDead
	}
	ps.wanted = true
	if ps.phase == absent && !m.frozen {
		m.request(p)
	}
	return AccessWaits
}

// Here reports whether an access to page p would be served at once, as
// Access would, without doing anything.
func (m *Machine) Here(p PageID) bool {
	ps := &m.pages[p]
	switch ps.phase {
	case owned:
		cs := m.copySets[p]
		return !ps.shared || cs == nil || cs.holders.empty() && cs.revoking.empty()
	case downgrading:
		return true
	case leaving:
		return !ps.shared
	}
	return false
}

// Ask asks for page p with no local access waiting for it (readahead,
// prefetch, a leaving peer's pull), unless it is here, on its way, or this
// node takes no pages.
func (m *Machine) Ask(p PageID) {
	if ps := &m.pages[p]; ps.phase == absent && !m.closing && !m.frozen {
		m.request(p)
	}
}

func (m *Machine) request(p PageID) {
	ps := &m.pages[p]
	m.send(Message{Type: MsgRequest, To: ps.prob, Page: p, Requester: m.cfg.Self})
	ps.phase, ps.peer, ps.prob = requesting, ps.prob, m.cfg.Self
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
	ps.shared, ps.reading = false, false // the giver took every read copy back
	m.act(ActTakePage, msg.Page)
	if msg.Ack {
		m.send(Message{Type: MsgPageAck, To: msg.From, Page: msg.Page, Version: msg.Version})
	}
	m.dropCopy(msg.Page) // the page here is newer than any copy
	if ps.wanted {
		// Serve the local access before anything can take the page
		// away: the kernel holds the page locked until that access is
		// answered, and an invalidation waits for the lock.
		ps.wanted = false
		m.act(ActServe, msg.Page)
	}
	if ps.readWanted {
		m.copySet(msg.Page).readers.add(m.cfg.Self)
	}
	if m.cfg.Hold {
		ps.held = true
		m.act(ActHold, msg.Page)
	}
	m.settle(msg.Page)
	return nil
}

// HoldExpired ends the hold window of page p and serves a waiting request.
func (m *Machine) HoldExpired(p PageID) {
	ps := &m.pages[p]
	if !ps.held {
		return
	}
	ps.held = false
	m.settle(p)
}

// InvalidateDone reports that local programs no longer have page p and that
// the kernel wrote its dirty data back to the page store.
func (m *Machine) InvalidateDone(p PageID) {
	ps := &m.pages[p]
	if !ps.invalidating {
		return
	}
	ps.invalidating = false
	switch {
	case ps.phase == leaving && ps.peer == None:
		// Recovery stopped this hand-off; the page stays.
		ps.phase, ps.touched = owned, false
		m.settle(p)
	case ps.touched:
		ps.touched, ps.invalidating = false, true
		m.counters.Invalidations++
		m.counters.Reinvalidations++
		m.act(ActInvalidate, p)
	case ps.phase == downgrading:
		// A new version: the read copies given from now on hold bytes
		// that no replica of an older hand-off has, and recovery must
		// prefer them.
		ps.phase, ps.shared = owned, true
		ps.ver++
		m.settle(p)
	case ps.phase == leaving:
		m.handOff(p)
	}
}

// give starts handing page p to node to: local programs give it up, and
// its read copies come back.
func (m *Machine) give(p PageID, to NodeID) {
	ps := &m.pages[p]
	ps.phase, ps.peer, ps.next, ps.touched = leaving, to, None, false
	if !ps.shared {
		ps.invalidating = true
		m.counters.Invalidations++
		m.act(ActInvalidate, p)
	}
	m.revoke(p)
}

// handOff sends leaving page p to its receiver once local programs gave it
// up and no read copy of it is left.
func (m *Machine) handOff(p PageID) {
	ps := &m.pages[p]
	if cs := m.copySets[p]; ps.invalidating || cs != nil && !cs.revoking.empty() {
		return
	}
	if ps.peer == None {
		// Recovery stopped this hand-off; the page stays.
		ps.phase = owned
		m.settle(p)
		return
	}
	ps.ver++
	to := ps.peer
	ps.phase, ps.peer, ps.shared = absent, None, false
	if m.leaving {
		m.handedOff[p] = to
	}
	m.keepUntilTaken(p, to, ps.ver)
	m.send(Message{Type: MsgPage, To: to, Page: p, Requester: to, Version: ps.ver, Ack: m.leaving || m.cfg.Replicas == 0})
	m.handOffCopies(p, to, ps.ver)
	m.forwardReaders(p, to)
	m.tidy(p)
	if ps.wanted && !m.closing && !m.frozen {
		m.request(p) // an access that waited while the copies came back
	}
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
