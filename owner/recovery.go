package owner

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Recovery. When a member dies, the pages it owned must get a new owner
// without ever having two. The lowest live member, if the live members are
// a quorum, coordinates: it freezes every live node into a new epoch
// (MsgRecoverQuery); each stops handing pages on, drops page traffic of
// earlier epochs from then on, and reports what it owns and which copies it
// keeps (MsgRecoverReply). Plan picks an owner for every page from those
// reports alone, and MsgRecoverInstall starts the new epoch with it on every
// node. A hand-off still on the wire when the epoch changes is dropped on
// arrival; its giver kept a copy of exactly what it sent, so Plan gives the
// page back to it.
//
// A node left out may still be alive, cut off by a broken connection or a
// partition. It cannot hear a quorum (the members that left it out are
// one, and they disconnect it before they report), so it fences itself
// within half a peer timeout (node_fence.go), while the coordinator waits a
// whole one (ActFenceTimer) before it installs. The same epoch change takes
// a restarted node back in (MsgJoin).

// ErrPageLost is returned for an access to a page that died with its owner,
// no copy of it left.
var ErrPageLost = errors.New("the page was lost with its owner")

// HoldKind tells how a node holds a page in a recovery report.
type HoldKind uint8

const (
	// HoldOwned: the node owns the page; it keeps it.
	HoldOwned HoldKind = iota + 1
	// HoldCopy: the node keeps a copy (a replica) of the page.
	HoldCopy
	// HoldRead: the node's programs may read a read copy of the page.
	HoldRead
)

// ReadHolder is a node that reported a read copy of a page: the page's
// owner in the new epoch takes it back before the page is written.
type ReadHolder struct {
	Page PageID
	Node NodeID
}

// Holding is one page a node reported in recovery.
type Holding struct {
	Page    PageID
	Kind    HoldKind
	Version uint64
}

// coordination is a recovery this node coordinates.
type coordination struct {
	epoch   uint32
	out     []NodeID // members left out, who must fence before Install
	reports map[NodeID][]Holding
	waiting map[NodeID]bool // next members yet to report
}

// PeerLost tells the machine that node id is gone for good: its connection
// broke, or it fell silent for the peer timeout. Without copies the pages
// last known there die with it: accesses waiting for them fail, and later
// ones at once. With copies, a lost member's pages are recovered, and the
// accesses wait for that.
func (m *Machine) PeerLost(id NodeID) {
	if id == m.cfg.Self {
		return
	}
	coordinatorDied := m.frozen && NodeID(m.epoch&0xFFFF) == id && m.group.Member(m.cfg.Self)
	if coordinatorDied {
		// The coordinator of the epoch this member is frozen into died,
		// maybe after others installed it: its members are the ones the
		// next coordinator is chosen among. (A restarted node waiting to
		// be taken in has no say: it waits for the next epoch.)
		m.group.adoptNext()
	}
	if m.group.Dead(id) {
		// A node that left, whose forwarding ends with its connection,
		// or one already counted dead.
		m.group.lose(id)
		if m.cfg.Replicas == 0 {
			m.forgetHolder(id)
		}
		if coordinatorDied {
			m.recover()
			m.reportLosses()
		}
		return
	}
	member := m.group.lose(id)
	m.group.witness(id, m.cfg.Self)
	for p, to := range m.handedOff {
		if to == id {
			delete(m.handedOff, p) // recovery decides where it is now
		}
	}
	if m.cfg.Replicas == 0 {
		// Its read copies go with it, and those it gave this node
		// too: nothing would take them back before a write.
		m.forgetHolder(id)
		m.dropReadCopiesFrom(id)
	}
	if !m.recovers() {
		// No epoch will settle where its pages are: the accesses
		// waiting for them fail.
		for p := range m.pages {
			pg, ps := PageID(p), &m.pages[p]
			if (ps.wanted || ps.readWanted && m.readCopies[pg] == nil) && !m.Owns(pg) && m.Owner(pg) == id {
				ps.wanted, ps.readWanted = false, false
				m.act(ActFail, pg)
			}
		}
		return
	}
	if c := m.coord; member || c != nil && c.waiting[id] {
		m.recover()
		m.reportLosses()
	}
}

// reportLosses tells the coordinator, if it is another node, every member
// this node has lost: the coordinator may still hear them, and would
// otherwise never start the epoch that the lost connections call for. A
// node next in line whom no quorum backs yet tells every peer instead: they
// witness the loss, and relay it to the coordinator they know, who may be
// the node it lost, still running.
func (m *Machine) reportLosses() {
	g := &m.group
	to := []NodeID{g.CoordinatorNode()}
	switch {
	case to[0] == None || g.Coordinator():
		return
	case to[0] == m.cfg.Self:
		to = g.Peers()
	}
	for id := range NodeID(m.cfg.Nodes) {
		if g.Dead(id) && (g.Member(id) || g.outvoted[id]) {
			for _, c := range to {
				m.send(Message{Type: MsgLost, To: c, Data: EncodeNodes([]NodeID{m.cfg.Self, id})})
			}
		}
	}
}

// stepLost takes word that a live node lost its connection to another. Both
// still run, and messages may have died between them: one of them must be
// left out of the next epoch. The coordinator decides which (Membership's
// breakLink); another node relays the word to the coordinator it knows,
// once.
func (m *Machine) stepLost(msg Message) error {
	ids, err := DecodeNodes(msg.Data, m.cfg.Nodes)
	if err != nil || len(ids) != 2 {
		return fmt.Errorf("%v: a loss names two nodes, not %v (%v)", msg, ids, err)
	}
	reporter, lost, g := ids[0], ids[1], &m.group
	inCluster := func(id NodeID) bool { return (g.Member(id) || g.Next(id)) && !g.Dead(id) }
	if !inCluster(msg.From) || !inCluster(reporter) || reporter == lost {
		return nil // out already
	}
	g.witness(lost, reporter) // which may back this node taking the coordinator's role over
	switch {
	case !inCluster(lost):
		m.recover()
		return nil
	case !g.Coordinator():
		if c := g.CoordinatorNode(); msg.From == reporter && c != m.cfg.Self && c != None {
			m.send(Message{Type: MsgLost, To: c, Data: msg.Data})
		}
		return nil
	}
	victim := g.breakLink(reporter, lost)
	g.lose(victim)
	m.rd.Actions = append(m.rd.Actions, Action{Kind: ActDisconnect, Node: victim})
	m.recover()
	return nil
}

// recover starts a recovery if this node is to coordinate one, giving up
// any it coordinates already: a new epoch supersedes it. A coordinator that
// is frozen starts one even if nothing changed, since the recovery it gave
// up would have unfrozen the cluster.
func (m *Machine) recover() {
	m.coord = nil
	if m.closing || !m.group.Coordinator() || !m.group.Changed() && !m.frozen {
		return
	}
	epoch := NextEpoch(m.maxEpoch, m.cfg.Self)
	out, next := m.group.NextMembers()
	m.freeze(epoch, next)
	c := &coordination{epoch: epoch, out: out, reports: map[NodeID][]Holding{m.cfg.Self: m.holdings()}, waiting: map[NodeID]bool{}}
	m.coord = c
	for _, id := range out {
		m.rd.Actions = append(m.rd.Actions, Action{Kind: ActDisconnect, Node: id})
	}
	for _, id := range next {
		if id != m.cfg.Self {
			c.waiting[id] = true
			m.send(Message{Type: MsgRecoverQuery, To: id, Data: EncodeNodes(next)})
		}
	}
	if len(c.waiting) == 0 {
		m.reportsIn()
		return
	}
	m.rd.Actions = append(m.rd.Actions, Action{Kind: ActReportTimer, Epoch: epoch})
}

// freeze enters epoch e, whose members are next: no page is handed on or
// asked for until Install, page traffic of earlier epochs is dropped, and
// hand-offs under way are called off (the page stays where it is, and a
// node waiting for one asks again in the new epoch). It returns the
// members left out.
func (m *Machine) freeze(e uint32, next []NodeID) (out []NodeID) {
	m.epoch, m.maxEpoch, m.frozen = e, max(m.maxEpoch, e), true
	clear(m.handedOff) // a hand-off on the wire is dropped; the plan decides
	for i := range m.pages {
		ps := &m.pages[i]
		ps.next, ps.held, ps.reading = None, false, false
		switch ps.phase {
		case requesting:
			ps.phase = absent
		case leaving:
			ps.peer = None // the invalidation finishes; the page stays
		}
	}
	for p, cs := range m.copySets {
		cs.readers = nil // read requests are asked again in the new epoch
		m.tidy(p)
	}
	return m.group.freeze(next)
}

// holdings is this node's recovery report: the pages it owns, and the
// replicas and read copies it keeps of pages it does not own.
func (m *Machine) holdings() []Holding {
	var out []Holding
	for p := range PageID(len(m.pages)) {
		if m.Owns(p) {
			out = append(out, Holding{Page: p, Kind: HoldOwned, Version: m.pages[p].ver})
		}
	}
	for _, p := range slices.Sorted(maps.Keys(m.copies)) {
		if !m.Owns(p) {
			out = append(out, Holding{Page: p, Kind: HoldCopy, Version: m.copies[p]})
		}
	}
	for _, p := range slices.Sorted(maps.Keys(m.readCopies)) {
		if !m.Owns(p) {
			out = append(out, Holding{Page: p, Kind: HoldRead, Version: m.readCopies[p].ver})
		}
	}
	return out
}

// stepQuery freezes this node into the epoch a coordinator starts, cuts
// the members it leaves out, and reports what this node holds. A query for
// an epoch not newer than this node's gets an empty reply stamped with this
// node's epoch, which tells the coordinator to start again above it.
func (m *Machine) stepQuery(msg Message) error {
	next, err := DecodeNodes(msg.Data, m.cfg.Nodes)
	if err != nil {
		return err
	}
	switch {
	case !m.group.Member(msg.From) && !m.group.Next(msg.From):
		m.counters.Strangers++ // neither of this epoch nor of the one it is frozen into
		return nil
	case !slices.Contains(next, m.cfg.Self):
		return fmt.Errorf("%v: a recovery query leaves its receiver out", msg)
	case msg.Epoch == m.epoch && m.frozen:
		// Asked again: the report is the same.
		m.send(Message{Type: MsgRecoverReply, To: msg.From, Data: EncodeHoldings(m.holdings())})
		return nil
	case msg.Epoch <= m.epoch:
		m.send(Message{Type: MsgRecoverReply, To: msg.From})
		return nil
	}
	m.coord = nil // a newer epoch than any this node coordinates
	for _, id := range m.freeze(msg.Epoch, next) {
		// Before reporting, so that they lose their quorum before the
		// coordinator starts to wait for them to fence.
		m.rd.Actions = append(m.rd.Actions, Action{Kind: ActDisconnect, Node: id})
	}
	m.send(Message{Type: MsgRecoverReply, To: msg.From, Data: EncodeHoldings(m.holdings())})
	for _, id := range next {
		if m.group.Dead(id) { // the coordinator still hears it; this node does not
			m.send(Message{Type: MsgLost, To: msg.From, Data: EncodeNodes([]NodeID{m.cfg.Self, id})})
		}
	}
	return nil
}

// stepReport takes a member's report for the recovery this node
// coordinates, or gives that recovery up for a newer epoch.
func (m *Machine) stepReport(msg Message) error {
	c := m.coord
	if c != nil && msg.Epoch > c.epoch {
		// A newer epoch than this one: coordinate again, above it, if
		// this node still should.
		m.maxEpoch = max(m.maxEpoch, msg.Epoch)
		m.recover()
		return nil
	}
	if c == nil || c.epoch != msg.Epoch || !c.waiting[msg.From] {
		return nil // for a recovery given up
	}
	hs, err := DecodeHoldings(msg.Data, m.cfg.Pages)
	if err != nil {
		return err
	}
	c.reports[msg.From] = hs
	delete(c.waiting, msg.From)
	if len(c.waiting) == 0 {
		m.reportsIn()
	}
	return nil
}

// reportsIn goes on once every member reported: after the fence wait if
// the recovery leaves members out, at once otherwise.
func (m *Machine) reportsIn() {
	if c := m.coord; len(c.out) > 0 && m.cfg.Replicas > 0 {
		m.rd.Actions = append(m.rd.Actions, Action{Kind: ActFenceTimer, Epoch: c.epoch})
		return
	}
	m.installPlan()
}

// ReportsOverdue reports that the fence wait passed since recovery into
// epoch e started: nodes that have not reported by now are dead too, and
// the recovery starts again without them. They are disconnected, members
// or restarted nodes asking to rejoin alike: a node left frozen in an
// epoch nobody installs must notice that it lost the cluster.
func (m *Machine) ReportsOverdue(e uint32) {
	c := m.coord
	if c == nil || c.epoch != e || len(c.waiting) == 0 {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(c.waiting)) {
		m.group.lose(id)
		m.rd.Actions = append(m.rd.Actions, Action{Kind: ActDisconnect, Node: id})
	}
	m.recover()
}

// FenceWaited reports that the fence wait passed since every member of
// epoch e reported: a member left out has fenced itself by now.
func (m *Machine) FenceWaited(e uint32) {
	if c := m.coord; c != nil && c.epoch == e && len(c.waiting) == 0 {
		m.installPlan()
	}
}

// installPlan plans the coordinated epoch and installs it everywhere.
func (m *Machine) installPlan() {
	c := m.coord
	m.coord = nil
	plan := Plan
	if m.cfg.Replicas == 0 {
		plan = PlanLosing
	}
	owners, readers := plan(m.cfg.Pages, c.reports), ReadHolders(c.reports)
	for _, id := range slices.Sorted(maps.Keys(c.reports)) {
		if id != m.cfg.Self {
			m.send(Message{Type: MsgRecoverInstall, To: id, Data: EncodeInstall(owners, readers)})
		}
	}
	if err := m.install(c.epoch, owners, readers); err != nil {
		panic(err) // Plan keeps every page a reporter owns where it is
	}
}

// stepInstall ends a recovery this node was frozen into. Only the epoch's
// coordinator, named in its low bits, installs it.
func (m *Machine) stepInstall(msg Message) error {
	if !m.frozen || m.epoch != msg.Epoch {
		return nil // superseded by a newer recovery
	}
	if NodeID(msg.Epoch&0xFFFF) != msg.From {
		m.counters.Strangers++
		return nil
	}
	owners, readers, err := DecodeInstall(msg.Data, m.cfg.Pages, m.cfg.Nodes)
	if err != nil {
		return err
	}
	return m.install(msg.Epoch, owners, readers)
}

// install ends the recovery into epoch e: owners[p] is page p's owner from
// now on, None for a page that was lost. A page given to this node that it
// does not own is promoted from its copy, and the readers that hold read
// copies of it are its copy set. Local accesses waiting for a page are
// served, asked again, or failed. It refuses a plan that takes a page from
// this node, which would make two owners, and changes nothing then.
func (m *Machine) install(e uint32, owners []NodeID, readers []ReadHolder) error {
	for p, o := range owners {
		if m.Owns(PageID(p)) && o != m.cfg.Self {
			return fmt.Errorf("install of epoch %d gives page %d, which is here, to node %d", e, p, o)
		}
	}
	for p, o := range owners {
		pg, ps := PageID(p), &m.pages[p]
		switch {
		case o == m.cfg.Self:
			if !m.Owns(pg) {
				m.promote(pg, readers)
			}
			m.dropCopy(pg)
			ps.prob = m.cfg.Self
		case o == None:
			ps.phase, ps.prob = lost, None
		default:
			ps.phase, ps.prob = absent, o
		}
		if o != m.cfg.Self && m.cfg.Replicas == 0 {
			m.dropCopy(pg) // a hand-off kept until acknowledged: it arrived
		}
	}
	m.group.install()
	m.frozen = false
	m.counters.Recoveries++
	m.installCopySets()
	for p := range m.pages {
		pg, ps := PageID(p), &m.pages[p]
		switch {
		case !ps.wanted:
		case ps.phase == owned && !ps.shared:
			ps.wanted = false
			m.act(ActServe, pg)
		case m.Owns(pg):
			m.settle(pg) // its read copies come back first, or its hand-off, called off, ends
		case ps.phase == lost:
			ps.wanted = false
			m.act(ActFail, pg)
		case !m.closing:
			m.request(pg)
		}
		switch {
		case !ps.readWanted:
		case m.readCopies[pg] != nil:
			c := m.readCopies[pg]
			c.touched = c.touched || c.revoking
			ps.readWanted = false
			m.act(ActServeRead, pg)
		case m.Owns(pg):
			m.copySet(pg).readers.add(m.cfg.Self)
			m.settle(pg)
		case ps.phase == lost:
			ps.readWanted = false
			m.act(ActFail, pg)
		case !m.closing && ps.phase == absent:
			m.askRead(pg)
		}
	}
	m.rd.Actions = append(m.rd.Actions, Action{Kind: ActInstalled, Epoch: e})
	// A member this node lost meanwhile calls for the next epoch.
	m.recover()
	m.reportLosses()
	return nil
}

// promote makes page p this node's from the newest copy it keeps, a
// replica or a read copy; with none, p starts over at version 0, zeros.
// The nodes that reported read copies of p hold them still: they are
// taken back before the page is written.
func (m *Machine) promote(p PageID, readers []ReadHolder) {
	ps := &m.pages[p]
	ps.phase, ps.ver = owned, m.copies[p]
	m.counters.Promoted++
	for _, r := range readers {
		if r.Page == p && r.Node != m.cfg.Self {
			m.copySet(p).holders.add(r.Node)
			ps.shared = true
		}
	}
	c := m.readCopies[p]
	if _, replica := m.copies[p]; c != nil && (!replica || c.ver > ps.ver) {
		ps.ver = c.ver
		m.act(ActPromoteRead, p)
	} else {
		m.act(ActPromote, p)
	}
	switch {
	case c == nil:
	case c.parked:
		delete(m.readCopies, p) // local programs have it no more
		m.act(ActDropReadCopy, p)
	default:
		// Local programs may read it through segment.ro: the copy is
		// this node's own now, served from the page store. (Its bytes
		// are the page's: no write follows a copy it did not take back.)
		ps.shared = true
		m.copySet(p).holders.add(m.cfg.Self)
		c.from = m.cfg.Self
		m.act(ActDropReadCopy, p)
	}
}

// installCopySets brings the copy sets into the epoch just installed:
// members left out are no holders any more, and revocations whose message
// or answer died with the old epoch are sent again.
func (m *Machine) installCopySets() {
	for p, c := range m.readCopies {
		if c.parked {
			if !m.group.Member(c.ackTo) {
				c.ackTo = None
			}
			m.forgetRead(p)
		}
	}
	for p, cs := range m.copySets {
		for _, id := range append(cs.holders.ids(), cs.revoking.ids()...) {
			if id != m.cfg.Self && !m.group.Member(id) {
				cs.holders.del(id)
				cs.revoking.del(id)
			}
		}
		for _, id := range cs.revoking.ids() {
			if id != m.cfg.Self {
				m.send(Message{Type: MsgRevoke, To: id, Page: p})
			}
		}
		m.revoked(p)
		m.tidy(p)
	}
}

// stepJoin takes a restarted node's request to rejoin (Requester): the
// next epoch makes it a member again. A node that is a member already was
// taken in by another node's epoch. A node that does not coordinate relays
// the request to the coordinator it knows, once: the restarted node may
// not reach it.
func (m *Machine) stepJoin(msg Message) {
	joiner, g := msg.Requester, &m.group
	switch {
	case m.closing, joiner == m.cfg.Self:
		return
	case msg.From != joiner && !g.Member(msg.From):
		m.counters.Strangers++ // only members relay
		return
	case !g.admit(joiner):
		return
	}
	m.recover()
	if c := g.CoordinatorNode(); msg.From == joiner && !g.Coordinator() && c != m.cfg.Self && c != None {
		m.send(Message{Type: MsgJoin, To: c, Requester: joiner})
	}
}

// HearsQuorum reports whether the live members this node heard from
// lately (heard) are a quorum with it. A node that does not must fence
// itself: the others may recover the pages it holds.
func (m *Machine) HearsQuorum(heard func(NodeID) bool) bool {
	return m.group.Quorum(func(id NodeID) bool { return !m.group.Dead(id) && heard(id) })
}

// ReadHolders lists the read copies in the reports, by page and node.
func ReadHolders(reports map[NodeID][]Holding) []ReadHolder {
	var out []ReadHolder
	for _, id := range slices.Sorted(maps.Keys(reports)) {
		for _, h := range reports[id] {
			if h.Kind == HoldRead {
				out = append(out, ReadHolder{Page: h.Page, Node: id})
			}
		}
	}
	return out
}

// Plan decides the owner of every page from the reports of the live nodes,
// by NodeID. A page a live node owns stays there. A page nobody owns goes to
// the live node with its newest copy (a replica or a read copy), which
// promotes it. The pages with no
// copy left anywhere come back as they were at start, all zeros, shared
// among the live nodes in contiguous runs. Plan is deterministic: every
// coordinator decides alike from the same reports.
func Plan(pages int, reports map[NodeID][]Holding) []NodeID {
	owners := make([]NodeID, pages)
	copyAt := make([]NodeID, pages)
	copyVer := make([]uint64, pages)
	for p := range owners {
		owners[p], copyAt[p] = None, None
	}
	live := slices.Sorted(maps.Keys(reports))
	for _, id := range live {
		for _, h := range reports[id] {
			switch {
			case h.Kind == HoldOwned:
				owners[h.Page] = id
			case copyAt[h.Page] == None || h.Version > copyVer[h.Page]:
				copyAt[h.Page], copyVer[h.Page] = id, h.Version
			}
		}
	}
	var uncopied []int
	for p := range owners {
		switch {
		case owners[p] != None || len(live) == 0:
		case copyAt[p] != None:
			owners[p] = copyAt[p]
		default:
			uncopied = append(uncopied, p)
		}
	}
	// In even, contiguous shares, so that neighbouring pages stay together.
	for i, p := range uncopied {
		owners[p] = live[i*len(live)/len(uncopied)]
	}
	return owners
}
