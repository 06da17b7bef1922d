package owner

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// LockServer is the node that keeps the cluster's lock table.
const LockServer NodeID = 0

// ErrLockBusy is a non-blocking lock request refused for a conflict.
var ErrLockBusy = errors.New("lock held by another owner")

type lockOp uint8

const (
	opGet     lockOp = iota + 1 // report a conflicting lock (F_GETLK)
	opSet                       // take or release, failing on conflict (F_SETLK)
	opWait                      // take, waiting for conflicts to go (F_SETLKW)
	opCancel                    // stop waiting (the program was interrupted)
	opRelease                   // drop all of an owner's locks (close)
)

type lockResult uint8

const (
	lockGranted    lockResult = iota + 1 // the lock is held now
	lockBusy                             // refused: Lock is the conflicting one
	lockFree                             // opGet: nothing conflicts
	lockCancelled                        // opCancel: it was waiting and no longer is
	lockNotWaiting                       // opCancel: it was granted already; the grant is on its way
)

// lockRequest travels from a node to the lock server. Tag is unique across
// the cluster and names the request in replies.
type lockRequest struct {
	Op   lockOp
	Tag  uint64
	Lock Lock
}

type lockReply struct {
	Tag    uint64
	Result lockResult
	Lock   Lock // the conflicting lock, for lockBusy
}

const lockSize = 2 + 8 + 1 + 1 + 8 + 8 + 4

func appendLock(b []byte, l Lock) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(l.Owner.Node))
	b = binary.LittleEndian.AppendUint64(b, l.Owner.ID)
	flock := byte(0)
	if l.Owner.Flock {
		flock = 1
	}
	b = append(b, flock, byte(l.Type))
	b = binary.LittleEndian.AppendUint64(b, l.Start)
	b = binary.LittleEndian.AppendUint64(b, l.End)
	return binary.LittleEndian.AppendUint32(b, l.Pid)
}

func parseLock(b []byte) Lock {
	return Lock{
		Owner: LockOwner{Node: NodeID(binary.LittleEndian.Uint16(b)), ID: binary.LittleEndian.Uint64(b[2:]), Flock: b[10] == 1},
		Type:  LockType(b[11]),
		Start: binary.LittleEndian.Uint64(b[12:]),
		End:   binary.LittleEndian.Uint64(b[20:]),
		Pid:   binary.LittleEndian.Uint32(b[28:]),
	}
}

func (r lockRequest) encode() []byte {
	b := append(make([]byte, 0, 1+8+lockSize), byte(r.Op))
	b = binary.LittleEndian.AppendUint64(b, r.Tag)
	return appendLock(b, r.Lock)
}

func decodeLockRequest(b []byte) (lockRequest, error) {
	if len(b) != 1+8+lockSize {
		return lockRequest{}, fmt.Errorf("lock request of %d bytes", len(b))
	}
	r := lockRequest{Op: lockOp(b[0]), Tag: binary.LittleEndian.Uint64(b[1:]), Lock: parseLock(b[9:])}
	if r.Op < opGet || r.Op > opRelease || r.Lock.Type > WriteLock || r.Lock.Start > r.Lock.End {
		return lockRequest{}, fmt.Errorf("bad lock request %+v", r)
	}
	return r, nil
}

func (r lockReply) encode() []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, 8+1+lockSize), r.Tag)
	return appendLock(append(b, byte(r.Result)), r.Lock)
}

func decodeLockReply(b []byte) (lockReply, error) {
	if len(b) != 8+1+lockSize {
		return lockReply{}, fmt.Errorf("lock reply of %d bytes", len(b))
	}
	return lockReply{Tag: binary.LittleEndian.Uint64(b), Result: lockResult(b[8]), Lock: parseLock(b[9:])}, nil
}

// LockMessageSize is the payload size of both lock messages, for the codec.
const LockMessageSize = 1 + 8 + lockSize

// serveLock runs a request on the lock server and sends the replies it
// causes: its own answer (unless it waits) and grants to waiting requests
// a release let through. Requests that name a node other than the sender
// are refused: a node speaks only for its own programs.
func (n *Node) serveLock(from NodeID, req lockRequest) error {
	if req.Lock.Owner.Node != from {
		return fmt.Errorf("node %d sent a lock request for node %d's owner", from, req.Lock.Owner.Node)
	}
	var replies []lockReply
	n.locksMu.Lock()
	t := &n.lockTable
	switch req.Op {
	case opGet:
		if l, busy := t.Conflict(req.Lock); busy {
			replies = append(replies, lockReply{Tag: req.Tag, Result: lockBusy, Lock: l})
		} else {
			replies = append(replies, lockReply{Tag: req.Tag, Result: lockFree})
		}
	case opSet, opWait:
		ok, granted := t.Set(req.Lock)
		switch {
		case ok:
			replies = append(replies, lockReply{Tag: req.Tag, Result: lockGranted})
		case req.Op == opWait:
			t.Wait(LockWait{Lock: req.Lock, Tag: req.Tag})
		default:
			l, _ := t.Conflict(req.Lock)
			replies = append(replies, lockReply{Tag: req.Tag, Result: lockBusy, Lock: l})
		}
		replies = append(replies, grants(granted)...)
	case opCancel:
		result := lockNotWaiting
		if t.Cancel(req.Tag) {
			result = lockCancelled
		}
		replies = append(replies, lockReply{Tag: req.Tag, Result: result})
	case opRelease:
		owner := req.Lock.Owner
		granted := t.Release(func(o LockOwner) bool { return o == owner })
		replies = append(replies, lockReply{Tag: req.Tag, Result: lockGranted})
		replies = append(replies, grants(granted)...)
	}
	n.locksMu.Unlock()
	for _, r := range replies {
		n.sendLockReply(r)
	}
	return nil
}

func grants(tags []uint64) []lockReply {
	out := make([]lockReply, len(tags))
	for i, tag := range tags {
		out[i] = lockReply{Tag: tag, Result: lockGranted}
	}
	return out
}

// tagNode is the node that made the request a tag names.
func tagNode(tag uint64) NodeID { return NodeID(tag >> 48) }

func (n *Node) sendLockReply(r lockReply) {
	to := tagNode(r.Tag)
	if to == n.cfg.Self {
		n.lockAnswer(r)
		return
	}
	if err := n.transport.Send(Message{Type: MsgLockReply, From: n.cfg.Self, To: to, Data: r.encode()}); err != nil {
		n.stats.sendErrors.Add(1)
		n.log.Error("lock reply not sent", "to", to, "err", err)
	}
}
