package owner

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// lockCall is a lock request waiting for its replies; lost is closed if the
// lock server goes away first.
type lockCall struct {
	replies chan lockReply
	lost    chan struct{}
}

// ErrLockServerLost fails lock calls when the connection to the lock server
// is gone: its table, and every lock in it, went with it.
var ErrLockServerLost = errors.New("lost the connection to the lock server (node 0)")

// PeerLost tells the node that a peer is gone for good: its daemon died or
// it was declared dead for silence. Without replicas the pages it owned are
// lost with it: accesses waiting for a page last known there fail now, and
// later ones at once, instead of after the timeout. With replicas they are
// recovered from copies and the accesses wait for that. On the lock server the peer's locks
// go, so that others can take them; elsewhere, if the lock server is the
// one lost, waiting lock calls fail instead of waiting forever.
func (n *Node) PeerLost(peer NodeID) {
	n.log.Warn("peer lost", "peer", peer)
	if n.cfg.Replicas > 0 {
		n.recoverPagesOf(peer)
	} else {
		n.failPagesOf(peer)
	}
	if n.cfg.Self == LockServer {
		n.locksMu.Lock()
		granted := n.lockTable.Release(func(o LockOwner) bool { return o.Node == peer })
		n.locksMu.Unlock()
		for _, r := range grants(granted) {
			n.sendLockReply(r)
		}
		return
	}
	if peer == LockServer {
		n.locksMu.Lock()
		for tag, call := range n.lockCalls {
			close(call.lost)
			delete(n.lockCalls, tag)
		}
		n.locksMu.Unlock()
	}
}

// GetLock reports a held lock that would stop l (F_GETLK).
func (n *Node) GetLock(ctx context.Context, l Lock) (Lock, bool, error) {
	r, err := n.lockCall(ctx, opGet, l)
	return r.Lock, r.Result == lockBusy, err
}

// SetLock takes, changes or releases l (F_SETLK). With wait it waits for
// conflicting locks to go (F_SETLKW) until ctx ends; without, a conflict
// is ErrLockBusy.
func (n *Node) SetLock(ctx context.Context, l Lock, wait bool) error {
	op := opSet
	if wait && l.Type != Unlock {
		op = opWait
	}
	r, err := n.lockCall(ctx, op, l)
	if err == nil && r.Result == lockBusy {
		err = ErrLockBusy
	}
	return err
}

// ReleaseLocks drops every lock owner holds: its file was closed.
func (n *Node) ReleaseLocks(ctx context.Context, owner LockOwner) error {
	_, err := n.lockCall(ctx, opRelease, Lock{Owner: owner})
	return err
}

// lockCall sends a request to the lock server and waits for the answer. A
// waiting request whose ctx ends is cancelled; if the lock was granted in
// the meantime it is released again, so an interrupted program never ends
// up holding it.
func (n *Node) lockCall(ctx context.Context, op lockOp, l Lock) (lockReply, error) {
	call := &lockCall{replies: make(chan lockReply, 4), lost: make(chan struct{})}
	n.locksMu.Lock()
	n.nextTag++
	tag := uint64(n.cfg.Self)<<48 | n.nextTag
	n.lockCalls[tag] = call
	n.locksMu.Unlock()
	defer func() {
		n.locksMu.Lock()
		delete(n.lockCalls, tag)
		n.locksMu.Unlock()
	}()

	req := lockRequest{Op: op, Tag: tag, Lock: l}
	if err := n.toLockServer(req); err != nil {
		return lockReply{}, err
	}
	if op != opWait {
		// Answered at once by a live server.
		timer := time.NewTimer(n.cfg.Timeout)
		defer timer.Stop()
		select {
		case r := <-call.replies:
			return r, nil
		case <-call.lost:
			return lockReply{}, ErrLockServerLost
		case <-timer.C:
			return lockReply{}, fmt.Errorf("lock server did not answer in %v", n.cfg.Timeout)
		}
	}
	select {
	case r := <-call.replies:
		return r, nil
	case <-call.lost:
		return lockReply{}, ErrLockServerLost
	case <-ctx.Done():
	}
	req.Op = opCancel
	if err := n.toLockServer(req); err != nil {
		return lockReply{}, err
	}
	for {
		var r lockReply
		select {
		case r = <-call.replies:
		case <-call.lost:
			return lockReply{}, ErrLockServerLost
		}
		switch r.Result {
		case lockGranted: // granted before the cancel arrived: give it back
			l.Type = Unlock
			if err := n.toLockServer(lockRequest{Op: opSet, Tag: tag, Lock: l}); err != nil {
				return lockReply{}, err
			}
			select {
			case <-call.replies:
			case <-call.lost:
			}
			return lockReply{}, ctx.Err()
		case lockCancelled:
			return lockReply{}, ctx.Err()
		}
		// lockNotWaiting: the grant is on its way.
	}
}

func (n *Node) toLockServer(req lockRequest) error {
	if n.cfg.Self == LockServer {
		return n.serveLock(n.cfg.Self, req)
	}
	return n.transport.Send(Message{Type: MsgLockRequest, From: n.cfg.Self, To: LockServer, Data: req.encode()})
}

// receiveLock handles lock messages, which bypass the machine.
func (n *Node) receiveLock(msg Message) error {
	if msg.Type == MsgLockRequest {
		if n.cfg.Self != LockServer {
			return fmt.Errorf("%v: this node is not the lock server", msg)
		}
		req, err := decodeLockRequest(msg.Data)
		if err != nil {
			return err
		}
		return n.serveLock(msg.From, req)
	}
	r, err := decodeLockReply(msg.Data)
	if err != nil {
		return err
	}
	if tagNode(r.Tag) != n.cfg.Self || msg.From != LockServer {
		return fmt.Errorf("%v: lock reply not for us or not from the lock server", msg)
	}
	n.lockAnswer(r)
	return nil
}

// lockAnswer hands a reply to the call waiting for it.
func (n *Node) lockAnswer(r lockReply) {
	n.locksMu.Lock()
	call := n.lockCalls[r.Tag]
	n.locksMu.Unlock()
	if call == nil {
		n.log.Error("lock reply for no request", "tag", r.Tag, "result", r.Result)
		return
	}
	select {
	case call.replies <- r:
	default:
		n.log.Error("lock replies overflow", "tag", r.Tag)
	}
}
