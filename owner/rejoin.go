package owner

// Rejoin: a node restarted into a running cluster that keeps replicas holds
// no page (Config.Rejoin) and asks the live members to take it back
// (MsgJoin); the coordinator's next epoch makes it a member again.

// Rejoin asks the live members to take this restarted node back; it then
// waits, holding no page, for the epoch that makes it a member.
func (n *Node) Rejoin() {
	for _, id := range n.cfg.Live {
		if id == n.cfg.Self {
			continue
		}
		if err := n.transport.Send(Message{Type: MsgJoin, From: n.cfg.Self, To: id}); err != nil {
			n.log.Warn("cannot ask to rejoin", "peer", id, "err", err)
		}
	}
}

// Live are the nodes alive now, members or rejoining, this one included.
func (n *Node) Live() []NodeID {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []NodeID
	for id := range NodeID(n.cfg.Nodes) {
		if id == n.cfg.Self || !n.dead[id] {
			out = append(out, id)
		}
	}
	return out
}

// CanRejoin reports whether node id may come back: it is no member any more
// (its death was recovered, or it left) and the cluster keeps copies, so
// that no page was left pointing at it.
func (n *Node) CanRejoin(id NodeID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg.Replicas > 0 && id != n.cfg.Self && !n.members[id] && !n.closed
}
