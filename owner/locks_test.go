package owner

import (
	"fmt"
	"testing"
)

func lk(node NodeID, id uint64, typ LockType, start, end uint64) Lock {
	return Lock{Owner: LockOwner{Node: node, ID: id}, Type: typ, Start: start, End: end}
}

func TestLockTableConflicts(t *testing.T) {
	var tb LockTable
	if ok, _ := tb.Set(lk(0, 1, ReadLock, 0, 99)); !ok {
		t.Fatal("first read lock refused")
	}
	if ok, _ := tb.Set(lk(1, 1, ReadLock, 50, 149)); !ok {
		t.Fatal("readers on two nodes must share")
	}
	if ok, _ := tb.Set(lk(1, 2, WriteLock, 90, 95)); ok {
		t.Fatal("a writer over readers must be refused")
	}
	if ok, _ := tb.Set(lk(1, 2, WriteLock, 150, 200)); !ok {
		t.Fatal("a writer beside the readers must be granted")
	}
	// Same ID on another node is another owner.
	if _, busy := tb.Conflict(lk(0, 2, WriteLock, 160, 160)); !busy {
		t.Fatal("owner IDs are per node: node 0's owner 2 is not node 1's")
	}
	flock := Lock{Owner: LockOwner{Node: 0, ID: 9, Flock: true}, Type: WriteLock, Start: 0, End: ^uint64(0)}
	if ok, _ := tb.Set(flock); !ok {
		t.Fatal("flock and POSIX locks must not conflict")
	}
}

func TestLockTableSplitsAndWaiters(t *testing.T) {
	var tb LockTable
	tb.Set(lk(0, 1, WriteLock, 0, 99))
	// Unlocking the middle splits the lock in two.
	tb.Set(lk(0, 1, Unlock, 40, 59))
	if got := fmt.Sprint(tb.Held()); got != fmt.Sprint([]Lock{lk(0, 1, WriteLock, 0, 39), lk(0, 1, WriteLock, 60, 99)}) {
		t.Fatalf("after unlocking 40-59: %v", got)
	}
	// Two waiters: the first conflicts with the left part, the second
	// with the right part.
	tb.Wait(LockWait{Lock: lk(1, 1, WriteLock, 10, 10), Tag: 1})
	tb.Wait(LockWait{Lock: lk(1, 2, WriteLock, 70, 70), Tag: 2})
	if _, granted := tb.Set(lk(0, 1, Unlock, 60, 99)); fmt.Sprint(granted) != "[2]" {
		t.Fatalf("releasing the right part grants %v, want [2]", granted)
	}
	if !tb.Cancel(1) || tb.Cancel(1) {
		t.Fatal("cancel must remove a waiting request exactly once")
	}
	tb.Wait(LockWait{Lock: lk(1, 3, ReadLock, 0, 5), Tag: 3})
	if granted := tb.Release(func(o LockOwner) bool { return o.Node == 0 }); fmt.Sprint(granted) != "[3]" {
		t.Fatalf("releasing node 0's locks grants %v, want [3]", granted)
	}
}

func TestLockMessagesRoundTrip(t *testing.T) {
	req := lockRequest{Op: opWait, Tag: 7<<48 | 3, Lock: Lock{Owner: LockOwner{Node: 7, ID: 1 << 60, Flock: true}, Type: WriteLock, Start: 4, End: 1 << 62, Pid: 99}}
	got, err := decodeLockRequest(req.encode())
	if err != nil || got != req {
		t.Fatalf("request round trip: %+v, %v", got, err)
	}
	rep := lockReply{Tag: req.Tag, Result: lockBusy, Lock: req.Lock}
	if got, err := decodeLockReply(rep.encode()); err != nil || got != rep {
		t.Fatalf("reply round trip: %+v, %v", got, err)
	}
	noOp, backwards := req, req
	noOp.Op = 0
	backwards.Lock.Start, backwards.Lock.End = 10, 9
	for _, bad := range []lockRequest{noOp, backwards} {
		if _, err := decodeLockRequest(bad.encode()); err == nil {
			t.Fatalf("%+v decoded", bad)
		}
	}
}
