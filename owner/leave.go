package owner

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Leaving the cluster gracefully: the leaver hands every page it holds to
// the nodes that stay, then has every peer route around it, so that it can
// exit losing nothing. The pages move by the ordinary protocol: the leaver
// asks the survivors to pull them (MsgPull: the receiver requests the
// page), and gives each away as it would to any requester, its dirty data
// written back first. Leaving nodes never pull, so nodes leaving together
// cannot hand pages around in a circle. Once it holds nothing it sends its
// hints (MsgLeft); each peer splices it out of its own and acknowledges,
// which, by the transport's per-peer order, comes after every message the
// peer sent it before, so nothing is still on its way to it.

// Close stops this node taking pages: it shuts down, and the local accesses
// waiting for a page fail (the driver's to do). Pages here are still
// served, above all the kernel's write-back of dirty data while they are
// handed away.
func (m *Machine) Close() {
	m.closing = true
	for p := range m.pages {
		ps := &m.pages[p]
		ps.wanted, ps.readWanted, ps.reading = false, false, false // a copy on its way is dropped
	}
	for p, cs := range m.copySets {
		cs.readers.del(m.cfg.Self)
		m.tidy(p)
	}
}

// Leave starts this node's leave: it closes, and tells its peers, who stop
// handing it pages too. Pull then asks the survivors to take what it
// holds.
func (m *Machine) Leave() {
	m.Close()
	m.leaving = true
	for p, c := range m.readCopies {
		if c.from != m.cfg.Self {
			m.dropRead(p, c.ackTo)
		}
	}
	m.group.leaving[m.cfg.Self] = true // it hands the coordinator's role on
	m.reportLosses()
	for _, id := range m.group.Peers() {
		m.send(Message{Type: MsgLeaving, To: id})
	}
}

// Pull asks the survivors to take every page this node owns, each
// survivor a contiguous share, so that neighbouring pages stay together,
// and returns how many pages this node still holds (owned or on their way
// here). It asks nobody when no survivor is left.
//
// Each page keeps the survivor it was first given to, round after round:
// cutting the pages still here into shares anew would move the cuts as
// pages leave, and a page asked of two survivors splits the shares (and
// moves twice). Only pages with no survivor yet, or whose survivor left or
// died, are shared out again, contiguously among those that stay. A
// survivor that has not taken a page after rerouteRounds rounds may be
// stopped, or cut off, and not declared dead yet: the page is asked of the
// next survivor instead (if it was only slow, the page moves twice).
func (m *Machine) Pull() (held int) {
	held = m.Held()
	survivors := m.group.Survivors()
	if len(survivors) == 0 || m.frozen {
		return held
	}
	if m.handTo == nil {
		m.handTo = make([]NodeID, len(m.pages))
		m.pulls = make([]uint8, len(m.pages))
		for p := range m.handTo {
			m.handTo[p] = None
		}
	}
	var unplanned []PageID
	for p := range PageID(len(m.pages)) {
		if !m.Owns(p) {
			continue
		}
		i := slices.Index(survivors, m.handTo[p])
		if i < 0 {
			unplanned = append(unplanned, p)
			continue
		}
		if m.pulls[p]++; m.pulls[p] > rerouteRounds {
			m.handTo[p], m.pulls[p] = survivors[(i+1)%len(survivors)], 1
		}
		m.send(Message{Type: MsgPull, To: m.handTo[p], Page: p, Version: m.pages[p].ver})
	}
	for i, p := range unplanned {
		m.handTo[p], m.pulls[p] = survivors[i*len(survivors)/len(unplanned)], 1
		m.send(Message{Type: MsgPull, To: m.handTo[p], Page: p, Version: m.pages[p].ver})
	}
	return held
}

// rerouteRounds is how many rounds of Pull a page is asked of one survivor
// before it is asked of the next.
const rerouteRounds = 4

// HeldPages are the runs of pages this node holds, owned or on their way
// here: what a leave that gives up takes with it.
func (m *Machine) HeldPages() []Run {
	var out []Run
	for _, r := range runs(len(m.pages), func(p PageID) NodeID {
		if m.Holds(p) {
			return m.cfg.Self
		}
		return None
	}) {
		if r.Owner == m.cfg.Self {
			out = append(out, r)
		}
	}
	return out
}

// stepPull asks for the page a leaving node owns, from that node: the
// hint here may lead through a node that is stopped, or cut off, and not
// declared dead yet. The leaver is a good hint while it still owns the
// page: only nodes queued after it, all asking, lie between it and the
// tail, so the hints stay a tree. A pull that was overtaken by the page
// (this node held it since, at a newer version than the pull's) is not:
// the leaver's hints may lead back here; the page is asked for along this
// node's own hint then.
func (m *Machine) stepPull(msg Message) {
	if ps := &m.pages[msg.Page]; ps.phase == absent && ps.ver <= msg.Version {
		ps.prob = msg.From
	}
	m.Ask(msg.Page)
}

// Held is how many pages this node holds, owned or on their way here.
func (m *Machine) Held() (held int) {
	for p := range PageID(len(m.pages)) {
		if m.Holds(p) {
			held++
		}
	}
	return held
}

// Drained reports whether this leaving node may send its hints (Left): it
// holds no page, every page it handed on arrived, and no member's death
// waits for a recovery, which could give it pages back from the copies it
// keeps (with replicas) or the hand-offs it kept (without, lost.go).
func (m *Machine) Drained() bool {
	return m.Held() == 0 && len(m.handedOff) == 0 && len(m.readCopies) == 0 && !m.frozen &&
		(!m.recovers() || !m.group.Changed())
}

// Left sends this node's hints to its peers, once Drained, so that they
// route around it; their MsgLeftAck says they do. It drops the copies it
// keeps, so that no recovery still under way can give it a page: others'
// pages have one copy less until their next hand-off or sync.
func (m *Machine) Left() []NodeID {
	for _, p := range slices.Sorted(maps.Keys(m.copies)) {
		m.dropCopy(p)
	}
	hints := EncodeHints(runs(len(m.pages), func(p PageID) NodeID {
		if o := m.Owner(p); o != None {
			return o
		}
		return m.cfg.Self // lost: a hint at the leaver itself, which Splice ignores
	}))
	peers := m.group.Peers()
	for _, id := range peers {
		m.send(Message{Type: MsgLeft, To: id, Data: hints})
	}
	return peers
}

// stepLeft routes around a member that left holding nothing, and says so.
func (m *Machine) stepLeft(msg Message) error {
	if !m.group.Member(msg.From) {
		m.counters.Strangers++
		return nil
	}
	hints, err := DecodeHints(msg.Data, m.cfg.Pages, m.cfg.Nodes)
	if err != nil {
		return err
	}
	hint := make([]NodeID, m.cfg.Pages)
	for _, r := range hints {
		for p := r.First; p <= r.Last; p++ {
			hint[p] = r.Owner
		}
	}
	m.Splice(msg.From, func(p PageID) NodeID { return hint[p] })
	m.group.left(msg.From)
	m.forgetHolder(msg.From)
	m.send(Message{Type: MsgLeftAck, To: msg.From})
	m.recover() // a loss waiting for the leaver's role as coordinator
	return nil
}

// runs groups pages [0, pages) into runs of equal owner(p).
func runs(pages int, owner func(PageID) NodeID) []Run {
	var out []Run
	for p := range PageID(pages) {
		o := owner(p)
		if k := len(out) - 1; k >= 0 && out[k].Owner == o {
			out[k].Last = p
			continue
		}
		out = append(out, Run{First: p, Last: p, Owner: o})
	}
	return out
}

// FormatRuns writes runs as "3-5, 9, 12-40", at most 16 of them and then
// how many more.
func FormatRuns(rs []Run) string {
	var b strings.Builder
	for i, r := range rs {
		if i == 16 {
			fmt.Fprintf(&b, " and %d more runs", len(rs)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if r.First == r.Last {
			fmt.Fprintf(&b, "%d", r.First)
		} else {
			fmt.Fprintf(&b, "%d-%d", r.First, r.Last)
		}
	}
	return b.String()
}
