package owner

import (
	"context"
	"fmt"
)

// Run is a run of consecutive pages with the same owner.
type Run struct {
	First, Last PageID
	Owner       NodeID
}

// Owners is this node's view of who owns which pages: the truth for the
// pages it owns, its best knowledge for the others.
func (n *Node) Owners() []Run {
	n.mu.Lock()
	defer n.mu.Unlock()
	return runs(n.m.Pages(), n.m.Owner)
}

// Owned is the runs of pages this node owns: none on a node that rejoins,
// whatever the initial split says.
func (n *Node) Owned() []Run {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ownedRunsLocked()
}

// ownedRunsLocked is the runs of pages this node owns; mu held.
func (n *Node) ownedRunsLocked() []Run {
	all := runs(n.m.Pages(), func(p PageID) NodeID {
		if n.m.Owns(p) {
			return n.cfg.Self
		}
		return None
	})
	owned := all[:0]
	for _, r := range all {
		if r.Owner != None {
			owned = append(owned, r)
		}
	}
	return owned
}

// NodeOwners is what one node said it owns in ClusterOwners.
type NodeOwners struct {
	Node NodeID
	Runs []Run // pages the node owns; nil if it did not answer
	Err  error // why it did not answer
}

// ownersQuery collects the answers to one ClusterOwners call.
type ownersQuery struct {
	answers []NodeOwners // by NodeID
	pending int
	done    chan struct{}
}

// ClusterOwners asks every node which pages it owns, itself included, and
// waits for the answers until ctx ends.
func (n *Node) ClusterOwners(ctx context.Context) []NodeOwners {
	n.mu.Lock()
	id := n.nextQuery
	n.nextQuery++
	q := &ownersQuery{answers: make([]NodeOwners, n.cfg.Nodes), pending: n.cfg.Nodes - 1, done: make(chan struct{})}
	for i := range q.answers {
		q.answers[i] = NodeOwners{Node: NodeID(i), Err: fmt.Errorf("did not answer")}
	}
	q.answers[n.cfg.Self] = NodeOwners{Node: n.cfg.Self, Runs: n.ownedRunsLocked()}
	n.queries[id] = q
	n.mu.Unlock()

	for peer := range NodeID(n.cfg.Nodes) {
		if peer == n.cfg.Self {
			continue
		}
		if err := n.transport.Send(Message{Type: MsgOwnersQuery, From: n.cfg.Self, To: peer, Page: id}); err != nil {
			n.mu.Lock()
			q.answers[peer].Err = err
			n.mu.Unlock()
		}
	}
	select {
	case <-q.done:
	case <-ctx.Done():
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.queries, id)
	return append([]NodeOwners(nil), q.answers...)
}

// receiveOwners handles the owner queries and replies, which bypass the
// machine.
func (n *Node) receiveOwners(msg Message) error {
	if msg.Type == MsgOwnersQuery {
		n.mu.Lock()
		data := EncodeHints(n.ownedRunsLocked())
		n.mu.Unlock()
		return n.transport.Send(Message{Type: MsgOwnersReply, From: n.cfg.Self, To: msg.From, Page: msg.Page, Data: data})
	}
	owned, err := DecodeHints(msg.Data, n.cfg.Pages, n.cfg.Nodes)
	if err != nil {
		return err
	}
	for _, r := range owned {
		if r.Owner != msg.From {
			return fmt.Errorf("%v: claims pages %d-%d for node %d", msg, r.First, r.Last, r.Owner)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	q := n.queries[msg.Page]
	if q == nil || q.answers[msg.From].Runs != nil {
		return nil // a late answer to a query that gave up
	}
	q.answers[msg.From] = NodeOwners{Node: msg.From, Runs: owned}
	if q.pending--; q.pending == 0 {
		close(q.done)
	}
	return nil
}
