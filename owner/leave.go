package owner

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoSurvivors is Leave's answer when every other node has left or died:
// the pages held here go with this node.
var ErrNoSurvivors = errors.New("no other node stays")

// pullEvery is how often a leaving node asks again for the pages it still
// holds: a survivor that was asked may have started leaving itself.
const pullEvery = 500 * time.Millisecond

// Leave hands every page this node holds to the nodes that stay, then has
// every peer route around it, so that it can exit losing nothing. Local
// programs can only use pages still here meanwhile.
//
// The pages move by the ordinary protocol: the leaving node asks a survivor
// to request each page (MsgPull), spread evenly, and gives it away as it
// would to any requester, its dirty data written back first. Leaving nodes
// never pull, so nodes leaving together cannot hand pages around in a
// circle. Once it holds nothing it sends its hints (MsgLeft); each peer
// splices it out of its own and acknowledges, which on a TCP connection
// comes after every earlier message, so nothing is still on its way to it.
func (n *Node) Leave(ctx context.Context) error {
	n.Close()
	n.broadcast(Message{Type: MsgLeaving})
	for round := 0; ; round++ {
		held, pulls := n.leavePulls(round)
		if held == 0 {
			break
		}
		if pulls == nil && held > 0 && len(n.survivors()) == 0 {
			return fmt.Errorf("%w to take the %d pages held here", ErrNoSurvivors, held)
		}
		n.send(pulls)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d pages still held when leaving gave up: %w", held, ctx.Err())
		case <-time.After(pullEvery / 10):
		}
	}
	n.mu.Lock()
	hints := EncodeHints(runs(n.m.Pages(), n.m.Owner))
	n.leftAcks = make(chan NodeID, n.cfg.Nodes)
	n.mu.Unlock()
	waiting := map[NodeID]bool{}
	for _, peer := range n.livePeers() {
		if err := n.transport.Send(Message{Type: MsgLeft, From: n.cfg.Self, To: peer, Data: hints}); err == nil {
			waiting[peer] = true
		}
	}
	for len(waiting) > 0 {
		select {
		case peer := <-n.leftAcks:
			delete(waiting, peer)
		case <-time.After(pullEvery / 5):
			// A peer that left or died meanwhile will not answer.
			n.mu.Lock()
			for peer := range waiting {
				if n.dead[peer] {
					delete(waiting, peer)
				}
			}
			n.mu.Unlock()
		case <-ctx.Done():
			return fmt.Errorf("%d peers did not confirm that they route around this node: %w", len(waiting), ctx.Err())
		}
	}
	return nil
}

// leavePulls counts the pages this node still holds and, every pullEvery,
// asks a survivor to pull each one it owns.
func (n *Node) leavePulls(round int) (held int, pulls []Message) {
	survivors := n.survivors()
	n.mu.Lock()
	defer n.mu.Unlock()
	ask := round%10 == 0 && len(survivors) > 0
	for p := range PageID(n.m.Pages()) {
		if !n.m.Holds(p) {
			continue
		}
		held++
		if ask && n.m.Owns(p) {
			pulls = append(pulls, Message{Type: MsgPull, From: n.cfg.Self, To: survivors[int(p)%len(survivors)], Page: p})
		}
	}
	return held, pulls
}

// survivors are the peers that are alive and not leaving.
func (n *Node) survivors() []NodeID { return n.peers(true) }

// livePeers are the peers that are alive, leaving or not.
func (n *Node) livePeers() []NodeID { return n.peers(false) }

func (n *Node) peers(stayingOnly bool) []NodeID {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []NodeID
	for id := range NodeID(n.cfg.Nodes) {
		if id != n.cfg.Self && !n.dead[id] && !(stayingOnly && n.leavingPeers[id]) {
			out = append(out, id)
		}
	}
	return out
}

func (n *Node) broadcast(m Message) {
	for _, peer := range n.livePeers() {
		m.From, m.To = n.cfg.Self, peer
		if err := n.transport.Send(m); err != nil {
			n.log.Warn("cannot tell peer", "peer", peer, "msg", m.Type.String(), "err", err)
		}
	}
}

// receiveLeave handles the messages of a peer leaving, which bypass the
// machine but for the pulls and the splice.
func (n *Node) receiveLeave(msg Message) error {
	switch msg.Type {
	case MsgLeaving:
		n.mu.Lock()
		n.leavingPeers[msg.From] = true
		n.mu.Unlock()
	case MsgPull:
		if int(msg.Page) >= n.cfg.Pages {
			return fmt.Errorf("%v: no such page", msg)
		}
		n.mu.Lock()
		n.askLocked(msg.Page)
		rd := n.m.Ready()
		n.mu.Unlock()
		n.send(rd.Messages)
	case MsgLeft:
		hints, err := DecodeHints(msg.Data, n.cfg.Pages, n.cfg.Nodes)
		if err != nil {
			return err
		}
		hint := make([]NodeID, n.cfg.Pages)
		for _, r := range hints {
			for p := r.First; p <= r.Last; p++ {
				hint[p] = r.Owner
			}
		}
		n.mu.Lock()
		n.m.Splice(msg.From, func(p PageID) NodeID { return hint[p] })
		n.dead[msg.From] = true // nothing may be sent to it any more
		n.members[msg.From] = false
		n.mu.Unlock()
		n.log.Info("peer left the cluster", "peer", msg.From)
		return n.transport.Send(Message{Type: MsgLeftAck, From: n.cfg.Self, To: msg.From})
	case MsgLeftAck:
		n.mu.Lock()
		acks := n.leftAcks
		n.mu.Unlock()
		if acks != nil {
			acks <- msg.From
		}
	}
	return nil
}
