package owner

// Membership is one node's view of who is in the cluster, and everything
// that is decided from that view alone: whether some nodes are a quorum,
// who coordinates a recovery, which epoch it starts, which nodes the next
// epoch has, who keeps this node's copies, who may rejoin. Like etcd's
// quorum and tracker packages, it is plain data with pure methods; the
// Machine holds one and steps it.
//
// A member belongs to the epoch this node is in. A node is dead once it was
// lost (its connection broke, it fell silent, it left, or a recovery left
// it out), until it asks to rejoin. A member that said it leaves takes no
// pages and keeps no copies.
type Membership struct {
	self    NodeID
	members []bool // by NodeID: the members of this node's epoch
	dead    []bool // by NodeID: lost for good, until they rejoin
	leaving []bool // by NodeID: said they leave
	// departed are nodes that left holding nothing and whose connection
	// has not closed yet: until it does, they still forward requests
	// that reached them before the others routed around them.
	departed []bool
	// next, while frozen in a recovery, are the members of the epoch
	// being recovered into; nil otherwise.
	next []bool
	// broken are the connections between two live nodes that one of them
	// reported lost (MsgLost), lower NodeID first: on the coordinator,
	// until one end is out.
	broken map[[2]NodeID]bool
	// witnesses are, for a member this node counts dead, the nodes that
	// said they lost it too (this node among them if it did). A node
	// takes the coordinator's role over from a lower member only once a
	// quorum lost that member (or an epoch left it out, outvoted): so a
	// node cut off alone, which lost everyone, never takes it.
	witnesses map[NodeID]map[NodeID]bool
	outvoted  []bool
}

// newMembership is node self's view at start: every node a member. A node
// restarted into a running cluster is no member itself until an epoch takes
// it in, and counts dead every node but the live ones it connected to.
func newMembership(self NodeID, nodes int, rejoin bool, live []NodeID) Membership {
	ms := Membership{self: self, members: make([]bool, nodes), dead: make([]bool, nodes), leaving: make([]bool, nodes), departed: make([]bool, nodes), broken: map[[2]NodeID]bool{},
		witnesses: map[NodeID]map[NodeID]bool{}, outvoted: make([]bool, nodes)}
	for id := range ms.members {
		ms.members[id] = true
	}
	if rejoin {
		for id := range ms.members {
			alive := NodeID(id) == self
			for _, l := range live {
				alive = alive || l == NodeID(id)
			}
			ms.members[id], ms.dead[id] = alive && NodeID(id) != self, !alive
		}
	}
	return ms
}

// Member reports whether id is a member of this node's epoch.
func (ms *Membership) Member(id NodeID) bool { return int(id) < len(ms.members) && ms.members[id] }

// Admitted reports whether page traffic from id is taken: it is a member,
// or it left and still forwards requests.
func (ms *Membership) Admitted(id NodeID) bool { return ms.Member(id) || ms.departed[id] }

// Dead reports whether this node has lost id.
func (ms *Membership) Dead(id NodeID) bool { return int(id) < len(ms.dead) && ms.dead[id] }

// Leaving reports whether id said it leaves.
func (ms *Membership) Leaving(id NodeID) bool { return ms.leaving[id] }

// live reports whether id is this node, or a node it has not lost.
func (ms *Membership) live(id NodeID) bool { return id == ms.self || !ms.dead[id] }

// Quorum reports whether the members for which up is true (this node
// always is) are a quorum: more than half of the members, or exactly half
// with the lowest member among them, so that two groups cut apart never
// both have one.
func (ms *Membership) Quorum(up func(NodeID) bool) bool {
	total, alive, lowest := 0, 0, None
	for id, member := range ms.members {
		if !member {
			continue
		}
		if lowest == None {
			lowest = NodeID(id)
		}
		total++
		if NodeID(id) == ms.self || up(NodeID(id)) {
			alive++
		}
	}
	return 2*alive > total || total > 0 && 2*alive == total && (lowest == ms.self || up(lowest))
}

// Coordinator reports whether this node is to run a recovery: it is the
// lowest live member that stays (a leaving one hands the role on), the live
// members are a quorum, and a quorum saw each lower member it counts dead
// die (a lower member that was leaving needs no witness: it went).
func (ms *Membership) Coordinator() bool {
	if ms.CoordinatorNode() != ms.self || !ms.Quorum(ms.live) {
		return false
	}
	for id := range ms.self {
		if ms.members[id] && ms.dead[id] && !ms.outvoted[id] && !ms.leaving[id] && !ms.Quorum(func(w NodeID) bool { return ms.witnesses[id][w] }) {
			return false
		}
	}
	return true
}

// witness notes that by lost its connection to member id.
func (ms *Membership) witness(id, by NodeID) {
	if !ms.Member(id) && !ms.Next(id) {
		return
	}
	if ms.witnesses[id] == nil {
		ms.witnesses[id] = map[NodeID]bool{}
	}
	ms.witnesses[id][by] = true
}

// CoordinatorNode is the lowest live member that stays, in this node's
// view: the node that coordinates the next recovery, if it has a quorum.
func (ms *Membership) CoordinatorNode() NodeID {
	for id, member := range ms.members {
		if member && ms.live(NodeID(id)) && !ms.leaving[id] {
			return NodeID(id)
		}
	}
	return None
}

// Changed reports whether the live nodes are not the members: a member
// died and its pages are yet to be recovered, or a restarted node asks to
// rejoin.
func (ms *Membership) Changed() bool {
	for id, member := range ms.members {
		if member == ms.dead[id] {
			return true
		}
	}
	return false
}

// NextMembers are the members of the epoch a coordinator starts now, the
// live nodes, and the members it leaves out, dead.
func (ms *Membership) NextMembers() (out, next []NodeID) {
	for id := range NodeID(len(ms.members)) {
		switch {
		case ms.dead[id] && ms.members[id]:
			out = append(out, id)
		case !ms.dead[id]:
			next = append(next, id)
		}
	}
	return out, next
}

// freeze enters a recovery whose next members are next, and returns the
// nodes it leaves out, dead: members, and restarted nodes that asked to
// rejoin and are not taken in. The restarted nodes it takes in are alive
// (their request to rejoin may not have reached this node yet); a member
// this node lost stays dead in its view whatever the coordinator's: this
// node must tell it (MsgLost).
func (ms *Membership) freeze(next []NodeID) (out []NodeID) {
	ms.next = make([]bool, len(ms.members))
	for _, id := range next {
		ms.next[id] = true
		if !ms.members[id] {
			ms.dead[id] = false
		}
	}
	for id := range ms.members {
		if NodeID(id) != ms.self && (ms.members[id] || !ms.dead[id]) && !ms.next[id] {
			out = append(out, NodeID(id))
			ms.dead[id], ms.outvoted[id] = true, true
		}
	}
	return out
}

// Next reports whether id is a member of the epoch being recovered into.
func (ms *Membership) Next(id NodeID) bool { return ms.next != nil && ms.next[id] }

// install makes the next members the members.
func (ms *Membership) install() {
	if ms.next != nil {
		ms.members, ms.next = ms.next, nil
	}
}

// adoptNext makes the members of the epoch being recovered into the
// members, its coordinator having died: they choose the next one. The
// restarted nodes that epoch would have taken in stay outside, alive and
// asking: they cannot have learned that they were in, so they would never
// coordinate; the next epoch takes them in.
func (ms *Membership) adoptNext() {
	if ms.next == nil {
		return
	}
	for id := range ms.members {
		ms.members[id] = ms.members[id] && ms.next[id]
	}
	ms.next = nil
}

// lose marks id dead, its connection gone, and reports whether it was a
// member.
func (ms *Membership) lose(id NodeID) bool {
	ms.dead[id], ms.departed[id] = true, false
	for link := range ms.broken {
		if link[0] == id || link[1] == id {
			delete(ms.broken, link)
		}
	}
	return ms.members[id]
}

// breakLink notes that reporter lost its connection to lost, both live,
// and returns which of the two must go for the others to be whole again:
// lost, whose death every node soon reports if it crashed, unless the
// reporter has more broken connections (then it is the one cut off), or is
// a restarted node not taken in yet, which can try again. Never this node:
// if it is lost, the reporter cannot reach the coordinator.
func (ms *Membership) breakLink(reporter, lost NodeID) NodeID {
	ms.broken[[2]NodeID{min(reporter, lost), max(reporter, lost)}] = true
	degree := map[NodeID]int{}
	for link := range ms.broken {
		degree[link[0]]++
		degree[link[1]]++
	}
	if lost == ms.self || !ms.members[reporter] || degree[reporter] > degree[lost] {
		return reporter
	}
	return lost
}

// left takes id out: it has left the cluster holding nothing. Nothing is
// sent to it any more, but it may still forward what reached it before.
func (ms *Membership) left(id NodeID) {
	ms.dead[id], ms.members[id], ms.departed[id] = true, false, true
}

// admit notes that id, restarted, asks to rejoin. It reports whether that
// changes anything: a node that is a member already was taken in by
// another node's epoch.
func (ms *Membership) admit(id NodeID) bool {
	if ms.members[id] {
		return false
	}
	ms.dead[id], ms.leaving[id], ms.departed[id], ms.outvoted[id] = false, false, false, false
	delete(ms.witnesses, id)
	return true
}

// CanRejoin reports whether node id may come back, restarted, holding no
// page: it is no member any more (its death was recovered, or it left).
func (ms *Membership) CanRejoin(id NodeID) bool {
	return id != ms.self && !ms.Member(id)
}

// Live are the nodes alive now, members or rejoining, this one included.
func (ms *Membership) Live() []NodeID {
	var out []NodeID
	for id := range NodeID(len(ms.dead)) {
		if ms.live(id) {
			out = append(out, id)
		}
	}
	return out
}

// Survivors are the live members that stay: not this node, not leaving.
func (ms *Membership) Survivors() []NodeID {
	var out []NodeID
	for id, member := range ms.members {
		if NodeID(id) != ms.self && member && !ms.dead[id] && !ms.leaving[id] {
			out = append(out, NodeID(id))
		}
	}
	return out
}

// Peers are the nodes alive now but this one, leaving or not.
func (ms *Membership) Peers() []NodeID {
	var out []NodeID
	for id := range NodeID(len(ms.dead)) {
		if id != ms.self && !ms.dead[id] {
			out = append(out, id)
		}
	}
	return out
}

// CopyTargets are the peers that keep copies of this node's pages: the next
// k surviving members after it, in NodeID order round the ring.
func (ms *Membership) CopyTargets(k int) []NodeID {
	var out []NodeID
	n := len(ms.members)
	for i := 1; i < n && len(out) < k; i++ {
		id := NodeID((int(ms.self) + i) % n)
		if ms.members[id] && !ms.dead[id] && !ms.leaving[id] {
			out = append(out, id)
		}
	}
	return out
}

// NextEpoch is the epoch a coordinator starts above the highest it has
// seen: a round number in the high 16 bits and the coordinator in the low
// ones, so that two nodes coordinating at once (each thinking the other
// dead) never start the same epoch, and the newer round always wins.
func NextEpoch(seen uint32, self NodeID) uint32 {
	return (seen>>16+1)<<16 | uint32(self)
}
