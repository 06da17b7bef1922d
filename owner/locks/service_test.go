package locks

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// testNet carries lock messages between the services of one test, each on
// a goroutine of its own as a transport's reader would, after delay.
type testNet struct {
	mu       sync.Mutex
	services []*Service    // by NodeID
	delay    time.Duration // guarded by mu
}

type testEnd struct {
	nw   *testNet
	from owner.NodeID
}

func (e testEnd) Send(m owner.Message) error {
	m.From = e.from
	m.Data = append([]byte(nil), m.Data...)
	e.nw.mu.Lock()
	delay, to := e.nw.delay, e.nw.services[m.To]
	e.nw.mu.Unlock()
	time.AfterFunc(delay, func() {
		if err := to.Receive(m); err != nil {
			panic(err)
		}
	})
	return nil
}

func (testEnd) Disconnect(owner.NodeID) {}

func newServices(n int, timeout time.Duration) *testNet {
	nw := &testNet{}
	for i := range n {
		id := owner.NodeID(i)
		nw.services = append(nw.services, New(Config{Self: id, Timeout: timeout}, testEnd{nw, id}))
	}
	return nw
}

func writeLock(node owner.NodeID, start, end uint64) Lock {
	return Lock{Owner: Owner{Node: node, ID: 1}, Type: Write, Start: start, End: end}
}

// TestLocksExcludeAcrossNodes: a lock taken on one node stops the others
// until it is released, and a waiting request gets it then.
func TestLocksExcludeAcrossNodes(t *testing.T) {
	nw := newServices(3, 5*time.Second)
	ctx := context.Background()
	a, b := nw.services[1], nw.services[2]
	if err := a.Set(ctx, writeLock(1, 0, 99), false); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, writeLock(2, 50, 60), false); !errors.Is(err, ErrBusy) {
		t.Fatalf("a conflicting lock on another node: %v, want ErrBusy", err)
	}
	if held, busy, err := b.Get(ctx, writeLock(2, 50, 60)); err != nil || !busy || held.Owner.Node != 1 {
		t.Fatalf("F_GETLK: %+v busy %v err %v", held, busy, err)
	}
	got := make(chan error, 1)
	go func() { got <- b.Set(ctx, writeLock(2, 50, 60), true) }()
	server := nw.services[Server]
	waitUntil(t, "the server to queue the waiting request", func() bool {
		server.mu.Lock()
		defer server.mu.Unlock()
		return len(server.table.waiting) == 1
	})
	select {
	case err := <-got:
		t.Fatalf("the waiting request returned %v while the lock was held", err)
	default:
	}
	if err := a.Release(ctx, Owner{Node: 1, ID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("the waiting request, once the lock went: %v", err)
	}
}

// TestUnclaimedGrantGivenBack: a grant that reaches a call which gave up
// (here: its reply came after its timeout) must be given back, or the lock
// would be held cluster-wide by nobody.
func TestUnclaimedGrantGivenBack(t *testing.T) {
	nw := newServices(2, 20*time.Millisecond)
	nw.delay = 100 * time.Millisecond // every reply comes after the call's timeout
	if err := nw.services[1].Set(context.Background(), writeLock(1, 0, 9), false); err == nil {
		t.Fatal("the call did not time out")
	}
	server := nw.services[Server]
	held := func() bool {
		server.mu.Lock()
		defer server.mu.Unlock()
		return len(server.table.Held()) > 0
	}
	waitUntil(t, "the server to grant the lock", held)
	waitUntil(t, "the lock to be given back", func() bool { return !held() })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
