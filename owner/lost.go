package owner

import (
	"maps"
	"slices"
)

// Deaths without copies (Config.Replicas 0). A dead node's pages die with
// it, and only those: a page that had moved on is still served, and a page
// on its way to the dead node goes back to its giver.
//
//   - A giver keeps a copy of each page it hands on until the receiver
//     says it took it (MsgPageAck), so that a hand-off the receiver never
//     took can be given back.
//   - When a member dies and the live members are a quorum, the same epochs
//     as with copies (recovery.go) settle where every page is: the freeze
//     calls off the requests and queues the death broke (a request that was
//     forwarded to the dead node, a queue that ran through it), the reports
//     say who owns what, and PlanLosing keeps each page with its live owner,
//     gives a page nobody owns back to the giver of a hand-off not
//     acknowledged, and marks the rest lost. Read copies of a dead owner's
//     pages are dropped, not promoted: if the owner were only cut off, it
//     could still write, and nothing would take them back.
//     Every node then fails accesses to a lost page at once, and asks for
//     the others straight from their owners. No node is fenced and the
//     install does not wait for it: nothing a live node owns is given away.
//   - Without a quorum no epoch comes: accesses waiting for a page whose
//     hint names the dead node fail, as do later ones.

// recovers reports whether the death of a member is settled by an epoch:
// always with copies (a node short of a quorum fences itself), and without
// them when the live members are a quorum.
func (m *Machine) recovers() bool {
	return m.cfg.Replicas > 0 || m.group.Quorum(m.group.live)
}

// keepUntilTaken keeps, without copies, the bytes of page p that this
// node hands to node to at version v, until to says it took them.
func (m *Machine) keepUntilTaken(p PageID, to NodeID, v uint64) {
	if m.cfg.Replicas > 0 {
		return // the hand-off's copy is kept anyway (copies.go)
	}
	m.handedOff[p] = to
	m.copies[p] = v
	m.act(ActKeepCopy, p)
}

// stepPageAck notes that the receiver of a hand-off of page p took it at
// version v: without copies, the bytes kept for it can go.
func (m *Machine) stepPageAck(p PageID, from NodeID, v uint64) {
	if int(p) >= len(m.pages) || m.handedOff[p] != from {
		return
	}
	delete(m.handedOff, p)
	if m.cfg.Replicas == 0 && !m.Owns(p) && m.copies[p] == v {
		m.dropCopy(p)
	}
}

// PlanLosing is Plan without copies: a page a live node owns stays there,
// a page nobody owns goes to the live node that kept the newest hand-off
// of it, and the others are lost (None). Read copies are not promoted.
func PlanLosing(pages int, reports map[NodeID][]Holding) []NodeID {
	owners := make([]NodeID, pages)
	vers := make([]uint64, pages)
	owned := make([]bool, pages)
	for p := range owners {
		owners[p] = None
	}
	for _, id := range slices.Sorted(maps.Keys(reports)) {
		for _, h := range reports[id] {
			switch {
			case owned[h.Page], h.Kind == HoldRead:
			case h.Kind == HoldOwned:
				owners[h.Page], owned[h.Page] = id, true
			case owners[h.Page] == None || h.Version > vers[h.Page]:
				owners[h.Page], vers[h.Page] = id, h.Version
			}
		}
	}
	return owners
}
