package owner

import "fmt"

// Failures, the driver's side: the transport reports lost peers, the
// machine decides (recovery.go), and the driver carries out the waits and
// the held-back messages.

// PeerLost tells the node that a peer is gone for good: its daemon died or
// it was declared dead for silence. The machine fails or recovers its
// pages (Machine.PeerLost), syncs waiting for a copy on it fail, and every
// registered service hears of it.
func (n *Node) PeerLost(peer NodeID) {
	n.log.Warn("peer lost", "peer", peer)
	n.failCopyWaits(func(k copyKey, _ *syncCall) bool { return k.peer == peer }, fmt.Errorf("node %d: %w", peer, ErrPeerDead))
	n.step(func(m *Machine) { m.PeerLost(peer) })
	told := map[Service]bool{}
	for _, s := range n.services {
		if !told[s] {
			told[s] = true
			s.PeerLost(peer)
		}
	}
}

// installed finishes the install of epoch: messages held back for it are
// stepped, and the copies syncs still wait for go again, stamped with it.
func (n *Node) installed(epoch uint32) {
	n.mu.Lock()
	deferred := n.deferred
	n.deferred = nil
	resend := n.copiesToResendLocked(epoch)
	n.mu.Unlock()
	n.log.Warn("recovered: new owner map installed", "epoch", epoch)
	n.sendCopies(resend)
	for _, msg := range deferred {
		if err := n.Receive(msg); err != nil {
			n.log.Warn("message held back for the new epoch", "msg", msg.String(), "err", err)
		}
	}
}

// Rejoin sends, on a node restarted into a running cluster, its requests to
// be taken back, which the machine made at start; it then waits, holding no
// page, for the epoch that makes it a member.
func (n *Node) Rejoin() {
	n.step(func(*Machine) {})
}

// Live are the nodes alive now, members or rejoining, this one included.
func (n *Node) Live() []NodeID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m.Group().Live()
}

// CanRejoin reports whether node id may come back: it is no member any more
// (its death was recovered, or it left) and the cluster keeps copies, so
// that no page was left pointing at it.
func (n *Node) CanRejoin(id NodeID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg.Replicas > 0 && !n.m.closing && n.m.Group().CanRejoin(id)
}

// Dead reports which nodes this node has lost, by NodeID.
func (n *Node) Dead() []bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	dead := make([]bool, n.cfg.Nodes)
	for id := range dead {
		dead[id] = n.m.Group().Dead(NodeID(id))
	}
	return dead
}
