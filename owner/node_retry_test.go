package owner_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	dsmnet "github.com/dsmfs/dsmfs/net"
	"github.com/dsmfs/dsmfs/owner"
	"github.com/dsmfs/dsmfs/pages"
)

// TestRetryAfterTimeoutFailsAtOnce: the kernel issues a READ that timed
// out again at once; that retry fails without waiting out the timeout a
// second time, and so does a third. Other pages are not affected.
func TestRetryAfterTimeoutFailsAtOnce(t *testing.T) {
	nw := dsmnet.NewInmem(2, 1)
	store, err := pages.New(4, pageSize)
	if err != nil {
		t.Fatal(err)
	}
	k := newFakeKernel(4)
	k.node = owner.NewNode(owner.NodeConfig{
		Config:   owner.Config{Self: 0, Nodes: 2, Pages: 4},
		PageSize: pageSize,
		Timeout:  50 * time.Millisecond,
	}, nw.Transport(0), stores(t, store, 4), k)
	nw.Attach(0, k.node.Receive, nil)
	nw.Attach(1, func(owner.Message) error { return nil }, nil) // a peer that never answers
	read := func(p owner.PageID) error {
		return k.node.ReadAt(context.Background(), make([]byte, pageSize), int64(p)*pageSize)
	}
	if err := read(3); !errors.Is(err, owner.ErrTimeout) || strings.Contains(err.Error(), "not waiting again") {
		t.Fatalf("first fault: %v, want a wait that timed out", err)
	}
	for range 2 {
		if err := read(3); !errors.Is(err, owner.ErrTimeout) || !strings.Contains(err.Error(), "not waiting again") {
			t.Fatalf("the kernel's retry: %v, want ErrTimeout at once", err)
		}
	}
	if err := read(2); !errors.Is(err, owner.ErrTimeout) || strings.Contains(err.Error(), "not waiting again") {
		t.Fatalf("another page: %v, want a wait of its own", err)
	}
}
