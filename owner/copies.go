package owner

// Copies of pages (replicas), kept so that a page outlives its owner. With
// Config.Replicas R > 0, a node that hands a page on keeps a copy of exactly
// what it sent, at the version it sent, in the same step in which it lets
// the page go, so that no recovery report can miss it; with R > 1 it sends
// R-1 more copies alongside. A sync (msync, fsync) copies the pages written
// since their last copy to R peers. Recovery (recovery.go) gives a dead
// node's pages to whoever keeps the newest copy. The machine keeps the
// versions; the bytes are the driver's (a CopyStore).

// handOffCopies keeps a copy of page p, handed to node to at version v,
// and sends the extra copies.
func (m *Machine) handOffCopies(p PageID, to NodeID, v uint64) {
	if m.cfg.Replicas == 0 {
		return
	}
	m.copies[p] = v
	m.act(ActKeepCopy, p)
	extra := 0
	for _, id := range m.group.CopyTargets(m.cfg.Replicas + 1) {
		if id == to || extra == m.cfg.Replicas-1 {
			continue
		}
		extra++
		m.send(Message{Type: MsgReplica, To: id, Page: p, Version: v})
	}
}

// stepReplica keeps a copy a peer sent, unless the page is here (an owner
// has a newer version than any copy) or a copy as new is kept already, and
// says the copy is kept either way.
func (m *Machine) stepReplica(msg Message) {
	if v, ok := m.copies[msg.Page]; !m.Owns(msg.Page) && (!ok || v < msg.Version) {
		m.copies[msg.Page] = msg.Version
		m.act(ActStoreCopy, msg.Page)
	}
	m.send(Message{Type: MsgReplicaAck, To: msg.From, Page: msg.Page, Version: msg.Version})
}

// dropCopy forgets the copy of page p, if one is kept.
func (m *Machine) dropCopy(p PageID) {
	if _, ok := m.copies[p]; ok {
		delete(m.copies, p)
		m.act(ActDropCopy, p)
	}
}

// Sync starts a new version of page p for a sync to copy, if p is here:
// owned reports that, and the copy comes from the page store. A page handed
// on since it was written is copied at the version it left with, from the
// copy kept here: the hand-off may still be on the wire, and that copy must
// not die with this node. ok is false for a page with neither.
func (m *Machine) Sync(p PageID) (version uint64, owned, ok bool) {
	if m.Owns(p) {
		m.pages[p].ver++
		return m.pages[p].ver, true, true
	}
	v, ok := m.copies[p]
	return v, false, ok
}

// CopyTargets are the peers a sync sends its copies to.
func (m *Machine) CopyTargets() []NodeID { return m.group.CopyTargets(m.cfg.Replicas) }

// Copies is how many copies of other nodes' pages are kept here.
func (m *Machine) Copies() int { return len(m.copies) }
