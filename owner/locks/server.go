package locks

import (
	"fmt"

	"github.com/dsmfs/dsmfs/owner"
)

// serve runs a request on the server and sends the replies it causes: its
// own answer (unless it waits) and grants to waiting requests that a
// release let through. A request that names a node other than its sender
// is refused: a node speaks only for its own programs.
func (s *Service) serve(from owner.NodeID, req request) error {
	if req.Lock.Owner.Node != from {
		return fmt.Errorf("node %d sent a lock request for node %d's owner", from, req.Lock.Owner.Node)
	}
	var replies []reply
	s.mu.Lock()
	t := &s.table
	switch req.Op {
	case opGet:
		if l, held := t.Conflict(req.Lock); held {
			replies = append(replies, reply{Tag: req.Tag, Result: busy, Lock: l})
		} else {
			replies = append(replies, reply{Tag: req.Tag, Result: free})
		}
	case opSet, opWait:
		ok, let := t.Set(req.Lock)
		switch {
		case ok:
			replies = append(replies, reply{Tag: req.Tag, Result: granted, Lock: req.Lock})
		case req.Op == opWait:
			t.Wait(Waiter{Lock: req.Lock, Tag: req.Tag})
		default:
			l, _ := t.Conflict(req.Lock)
			replies = append(replies, reply{Tag: req.Tag, Result: busy, Lock: l})
		}
		replies = append(replies, grants(let)...)
	case opCancel:
		result := notWaiting
		if t.Cancel(req.Tag) {
			result = cancelled
		}
		replies = append(replies, reply{Tag: req.Tag, Result: result})
	case opRelease:
		o := req.Lock.Owner
		let := t.Release(func(h Owner) bool { return h == o })
		replies = append(replies, reply{Tag: req.Tag, Result: granted})
		replies = append(replies, grants(let)...)
	}
	s.mu.Unlock()
	for _, r := range replies {
		s.sendReply(r)
	}
	return nil
}

// grants are the replies to waiting requests a release let through: each
// carries the lock granted, so that one nobody takes can be given back.
func grants(let []Waiter) []reply {
	out := make([]reply, len(let))
	for i, w := range let {
		out[i] = reply{Tag: w.Tag, Result: granted, Lock: w.Lock}
	}
	return out
}

func (s *Service) sendReply(r reply) {
	to := tagNode(r.Tag)
	if to == s.cfg.Self {
		s.answer(r)
		return
	}
	if err := s.transport.Send(owner.Message{Type: owner.MsgLockReply, From: s.cfg.Self, To: to, Data: r.encode()}); err != nil {
		s.log.Error("lock reply not sent", "to", to, "err", err)
	}
}
