package owner

import (
	"fmt"
	"maps"
	"slices"
)

// Recovery, the pure part. When a node dies, the pages it owned must get a
// new owner without ever having two. A coordinator freezes every live node
// into a new epoch (Freeze): each stops handing pages on, drops page traffic
// of the old epoch from then on, and reports what it owns and which copies
// it keeps (Holding). Plan picks an owner for every page from those reports
// alone, and Install starts the new epoch with it on every node. A hand-off
// still on the wire when the epoch changes is dropped on arrival; its giver
// kept a copy of exactly what it sent, so Plan gives the page back to it.

// HoldKind tells how a node holds a page in a recovery report.
type HoldKind uint8

const (
	// HoldOwned: the node owns the page; it keeps it.
	HoldOwned HoldKind = iota + 1
	// HoldCopy: the node keeps a copy (a replica) of the page.
	HoldCopy
)

// Holding is one page a node reported in recovery.
type Holding struct {
	Page    PageID
	Kind    HoldKind
	Version uint64
}

// Freeze enters epoch e for recovery: no page is handed on or asked for
// until Install, page traffic of earlier epochs is dropped, and hand-offs
// under way are called off (the page stays where it is, and a node waiting
// for one asks again in the new epoch). An e that is not newer is refused.
func (m *Machine) Freeze(e uint32) error {
	if e <= m.epoch {
		return fmt.Errorf("recovery into epoch %d, but this node is in epoch %d", e, m.epoch)
	}
	m.epoch, m.frozen = e, true
	for i := range m.pages {
		ps := &m.pages[i]
		ps.next, ps.held, ps.touched = None, false, false
		switch ps.phase {
		case requesting:
			ps.phase = absent
		case leaving:
			ps.peer = None // the invalidation finishes; the page stays
		}
	}
	return nil
}

// Epoch is the epoch this node is in, and whether it waits for Install.
func (m *Machine) Epoch() (uint32, bool) { return m.epoch, m.frozen }

// Install ends the recovery into epoch e: owner(p) is page p's owner from
// now on, None for a page that was lost. A page given to this node that it
// does not own is promoted from its copy, whose version is promoted(p). It
// refuses a plan that takes a page from this node, which would make two
// owners, and changes nothing then.
func (m *Machine) Install(e uint32, owner func(PageID) NodeID, promoted func(PageID) uint64) error {
	if !m.frozen || e != m.epoch {
		return fmt.Errorf("install of epoch %d, but this node is in epoch %d (frozen %v)", e, m.epoch, m.frozen)
	}
	for p := range PageID(len(m.pages)) {
		if o := owner(p); m.Owns(p) && o != m.cfg.Self {
			return fmt.Errorf("install of epoch %d gives page %d, which is here, to node %d", e, p, o)
		}
	}
	for p := range PageID(len(m.pages)) {
		ps := &m.pages[p]
		switch o := owner(p); {
		case o == m.cfg.Self:
			if !m.Owns(p) {
				ps.phase, ps.ver = owned, promoted(p)
				m.counters.Promoted++
			}
			ps.prob = m.cfg.Self
		case o == None:
			ps.phase, ps.prob = lost, None
		default:
			ps.phase, ps.prob = absent, o
		}
	}
	m.frozen = false
	m.counters.Recoveries++
	return nil
}

// Holdings is what this node reports in recovery: the pages it owns, with
// their versions. The copies it keeps are the driver's to add.
func (m *Machine) Holdings() []Holding {
	var out []Holding
	for p := range PageID(len(m.pages)) {
		if m.Owns(p) {
			out = append(out, Holding{Page: p, Kind: HoldOwned, Version: m.pages[p].ver})
		}
	}
	return out
}

// Plan decides the owner of every page from the reports of the live nodes,
// by NodeID. A page a live node owns stays there. A page nobody owns goes to
// the live node with its newest copy, which promotes it. The pages with no
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
