package locks

import (
	"encoding/binary"
	"fmt"

	"github.com/dsmfs/dsmfs/owner"
)

// What travels: a request from a node to the server, owner.MsgLockRequest,
// and the server's replies, owner.MsgLockReply. Both payloads are
// owner.LockPayloadSize bytes, little endian.

type op uint8

const (
	opGet     op = iota + 1 // report a conflicting lock (F_GETLK)
	opSet                   // take or release, failing on conflict (F_SETLK)
	opWait                  // take, waiting for conflicts to go (F_SETLKW)
	opCancel                // stop waiting (the program was interrupted)
	opRelease               // drop all of an owner's locks (close)
)

type result uint8

const (
	granted    result = iota + 1 // the lock is held now; Lock is the one granted
	busy                         // refused: Lock is the conflicting one
	free                         // opGet: nothing conflicts
	cancelled                    // opCancel: it was waiting and no longer is
	notWaiting                   // opCancel: it was granted already; the grant is on its way
)

// request travels from a node to the server. Tag is unique across the
// cluster (see tagNode) and names the request in replies.
type request struct {
	Op   op
	Tag  uint64
	Lock Lock
}

type reply struct {
	Tag    uint64
	Result result
	Lock   Lock
}

// lockSize is an encoded Lock: owner node u16, owner id u64, flock u8,
// type u8, start u64, end u64, pid u32.
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
		Owner: Owner{Node: owner.NodeID(binary.LittleEndian.Uint16(b)), ID: binary.LittleEndian.Uint64(b[2:]), Flock: b[10] == 1},
		Type:  Type(b[11]),
		Start: binary.LittleEndian.Uint64(b[12:]),
		End:   binary.LittleEndian.Uint64(b[20:]),
		Pid:   binary.LittleEndian.Uint32(b[28:]),
	}
}

func (r request) encode() []byte {
	b := append(make([]byte, 0, owner.LockPayloadSize), byte(r.Op))
	b = binary.LittleEndian.AppendUint64(b, r.Tag)
	return appendLock(b, r.Lock)
}

func decodeRequest(b []byte) (request, error) {
	if len(b) != owner.LockPayloadSize {
		return request{}, fmt.Errorf("lock request of %d bytes", len(b))
	}
	r := request{Op: op(b[0]), Tag: binary.LittleEndian.Uint64(b[1:]), Lock: parseLock(b[9:])}
	if r.Op < opGet || r.Op > opRelease || r.Lock.Type > Write || r.Lock.Start > r.Lock.End {
		return request{}, fmt.Errorf("bad lock request %+v", r)
	}
	return r, nil
}

func (r reply) encode() []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, owner.LockPayloadSize), r.Tag)
	return appendLock(append(b, byte(r.Result)), r.Lock)
}

func decodeReply(b []byte) (reply, error) {
	if len(b) != owner.LockPayloadSize {
		return reply{}, fmt.Errorf("lock reply of %d bytes", len(b))
	}
	r := reply{Tag: binary.LittleEndian.Uint64(b), Result: result(b[8]), Lock: parseLock(b[9:])}
	if r.Result < granted || r.Result > notWaiting {
		return reply{}, fmt.Errorf("bad lock reply %+v", r)
	}
	return r, nil
}

// tagNode is the node that made the request a tag names: tags carry it in
// their top 16 bits, so that they are unique across the cluster.
func tagNode(tag uint64) owner.NodeID { return owner.NodeID(tag >> 48) }
