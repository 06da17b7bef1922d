package locks

import (
	"fmt"
	"testing"

	"github.com/dsmfs/dsmfs/owner"
)

func lk(node owner.NodeID, id uint64, typ Type, start, end uint64) Lock {
	return Lock{Owner: Owner{Node: node, ID: id}, Type: typ, Start: start, End: end}
}

func tags(ws []Waiter) []uint64 {
	var out []uint64
	for _, w := range ws {
		out = append(out, w.Tag)
	}
	return out
}

func TestTableConflicts(t *testing.T) {
	var tb Table
	if ok, _ := tb.Set(lk(0, 1, Read, 0, 99)); !ok {
		t.Fatal("first read lock refused")
	}
	if ok, _ := tb.Set(lk(1, 1, Read, 50, 149)); !ok {
		t.Fatal("readers on two nodes must share")
	}
	if ok, _ := tb.Set(lk(1, 2, Write, 90, 95)); ok {
		t.Fatal("a writer over readers must be refused")
	}
	if ok, _ := tb.Set(lk(1, 2, Write, 150, 200)); !ok {
		t.Fatal("a writer beside the readers must be granted")
	}
	// Same ID on another node is another owner.
	if _, busy := tb.Conflict(lk(0, 2, Write, 160, 160)); !busy {
		t.Fatal("owner IDs are per node: node 0's owner 2 is not node 1's")
	}
	flock := Lock{Owner: Owner{Node: 0, ID: 9, Flock: true}, Type: Write, Start: 0, End: ^uint64(0)}
	if ok, _ := tb.Set(flock); !ok {
		t.Fatal("flock and POSIX locks must not conflict")
	}
}

func TestTableSplitsAndWaiters(t *testing.T) {
	var tb Table
	tb.Set(lk(0, 1, Write, 0, 99))
	// Unlocking the middle splits the lock in two.
	tb.Set(lk(0, 1, Unlock, 40, 59))
	if got := fmt.Sprint(tb.Held()); got != fmt.Sprint([]Lock{lk(0, 1, Write, 0, 39), lk(0, 1, Write, 60, 99)}) {
		t.Fatalf("after unlocking 40-59: %v", got)
	}
	// Two waiters: the first conflicts with the left part, the second
	// with the right part.
	tb.Wait(Waiter{Lock: lk(1, 1, Write, 10, 10), Tag: 1})
	tb.Wait(Waiter{Lock: lk(1, 2, Write, 70, 70), Tag: 2})
	if _, granted := tb.Set(lk(0, 1, Unlock, 60, 99)); fmt.Sprint(tags(granted)) != "[2]" {
		t.Fatalf("releasing the right part grants %v, want [2]", tags(granted))
	}
	if !tb.Cancel(1) || tb.Cancel(1) {
		t.Fatal("cancel must remove a waiting request exactly once")
	}
	tb.Wait(Waiter{Lock: lk(1, 3, Read, 0, 5), Tag: 3})
	if granted := tb.Release(func(o Owner) bool { return o.Node == 0 }); fmt.Sprint(tags(granted)) != "[3]" {
		t.Fatalf("releasing node 0's locks grants %v, want [3]", tags(granted))
	}
}
