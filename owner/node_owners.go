package owner

import (
	"context"
	"fmt"
)

// Run is a run of consecutive pages with the same owner.
type Run struct {
	First, Last PageID
	Owner       NodeID
	// ReadCopy, in Owners: local programs may read these pages through
	// segment.ro, from read copies.
	ReadCopy bool
}

// Owners is this node's view of who owns which pages: the truth for the
// pages it owns, its best knowledge for the others; a run ends where this
// node's read copies start or end too.
func (n *Node) Owners() []Run {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Run
	for p := range PageID(n.m.Pages()) {
		o, copy := n.m.Owner(p), n.m.ReadHere(p)
		if k := len(out) - 1; k >= 0 && out[k].Owner == o && out[k].ReadCopy == copy {
			out[k].Last = p
			continue
		}
		out = append(out, Run{First: p, Last: p, Owner: o, ReadCopy: copy})
	}
	return out
}

// readCopyRunsLocked is the runs of pages local programs may read from read
// copies; mu held.
func (n *Node) readCopyRunsLocked() []Run {
	return n.runsWhere(n.m.ReadHere)
}

// Owned is the runs of pages this node owns: none on a node that rejoins,
// whatever the initial split says.
func (n *Node) Owned() []Run {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ownedRunsLocked()
}

// ownedRunsLocked is the runs of pages this node owns; mu held.
func (n *Node) ownedRunsLocked() []Run { return n.runsWhere(n.m.Owns) }

// runsWhere is the runs of pages where holds, as this node's; mu held.
func (n *Node) runsWhere(holds func(PageID) bool) []Run {
	all := runs(n.m.Pages(), func(p PageID) NodeID {
		if holds(p) {
			return n.cfg.Self
		}
		return None
	})
	out := all[:0]
	for _, r := range all {
		if r.Owner != None {
			out = append(out, r)
		}
	}
	return out
}

// NodeOwners is what one node said it owns in ClusterOwners.
type NodeOwners struct {
	Node NodeID
	Runs []Run // pages the node owns; nil if it did not answer
	// ReadCopies are the pages its programs may read from read copies.
	ReadCopies []Run
	Err        error // why it did not answer
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
	q.answers[n.cfg.Self] = NodeOwners{Node: n.cfg.Self, Runs: n.ownedRunsLocked(), ReadCopies: n.readCopyRunsLocked()}
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
		data := EncodeOwnersReply(n.ownedRunsLocked(), n.readCopyRunsLocked())
		n.mu.Unlock()
		return n.transport.Send(Message{Type: MsgOwnersReply, From: n.cfg.Self, To: msg.From, Page: msg.Page, Data: data})
	}
	owned, copies, err := DecodeOwnersReply(msg.Data, n.cfg.Pages, n.cfg.Nodes)
	if err != nil {
		return err
	}
	for _, r := range append(owned, copies...) {
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
	q.answers[msg.From] = NodeOwners{Node: msg.From, Runs: owned, ReadCopies: copies}
	if q.pending--; q.pending == 0 {
		close(q.done)
	}
	return nil
}
