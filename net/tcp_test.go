package net

import (
	"context"
	"errors"
	"log/slog"
	stdnet "net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// listeners returns n loopback listeners, sorted by address as the member
// list is.
func listeners(t *testing.T, n int) []stdnet.Listener {
	var ls []stdnet.Listener
	for range n {
		l, err := stdnet.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Addr().String() < ls[j].Addr().String() })
	return ls
}

// config is member self's Config in the cluster of the listeners ls.
func config(ls []stdnet.Listener, self int) Config {
	var members []string
	for _, l := range ls {
		members = append(members, l.Addr().String())
	}
	return Config{
		Hello:       Hello{Name: members[self], PageSize: 4096, Pages: 8, Block: 1, Members: members},
		Self:        owner.NodeID(self),
		Listener:    ls[self],
		JoinTimeout: 5 * time.Second,
	}
}

func join(ls []stdnet.Listener, self int, pages int) (*TCP, error) {
	return joinWithSecret(ls, self, pages, nil)
}

func joinWithSecret(ls []stdnet.Listener, self int, pages int, secret []byte) (*TCP, error) {
	cfg := config(ls, self)
	cfg.Hello.Pages, cfg.Secret = pages, secret
	return Join(context.Background(), cfg)
}

// pairEvents are the Events of a pair whose members both live: neither may
// rejoin.
func pairEvents(deliver func(owner.Message) error, lost func(owner.NodeID)) Events {
	return Events{
		Deliver:   deliver,
		Lost:      lost,
		Live:      func() []owner.NodeID { return []owner.NodeID{0, 1} },
		CanRejoin: func(owner.NodeID) bool { return false },
	}
}

// joinPair joins both members of ls; Cleanup closes them.
func joinPair(t *testing.T, ls []stdnet.Listener) (*TCP, *TCP) {
	joined := make(chan *TCP, 1)
	go func() {
		tr, err := join(ls, 1, 8)
		if err != nil {
			t.Error(err)
		}
		joined <- tr
	}()
	t0, err := join(ls, 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(t0.Close)
	t1 := <-joined
	if t1 == nil {
		t.FailNow()
	}
	t.Cleanup(t1.Close)
	return t0, t1
}

// TestJoinDespiteGarbage: a stranger sending garbage to the port is dropped
// and the real peer still joins; messages then flow both ways.
func TestJoinDespiteGarbage(t *testing.T) {
	ls := listeners(t, 2)
	junk, err := stdnet.Dial("tcp", ls[1].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	junk.Write([]byte("\xff\xff\xff\xff garbage, not a hello \x00\x01"))
	defer junk.Close()
	t0, t1 := joinPair(t, ls)

	got := make(chan owner.Message, 1)
	t1.Start(pairEvents(func(m owner.Message) error { got <- m; return nil }, func(owner.NodeID) {}))
	t0.Start(pairEvents(func(owner.Message) error { return nil }, func(owner.NodeID) {}))
	if err := t0.Send(owner.Message{Type: owner.MsgRequest, To: 1, Page: 5, Requester: 0}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Type != owner.MsgRequest || m.Page != 5 || m.From != 0 {
			t.Fatalf("got %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message did not arrive")
	}
}

// TestJoinMismatch: both sides of a disagreement get a MismatchError.
func TestJoinMismatch(t *testing.T) {
	ls := listeners(t, 2)
	errs := make(chan error, 2)
	go func() { _, err := join(ls, 1, 16); errs <- err }()
	go func() { _, err := join(ls, 0, 8); errs <- err }()
	for range 2 {
		var mismatch *MismatchError
		if err := <-errs; !errors.As(err, &mismatch) {
			t.Errorf("got %v, want a MismatchError", err)
		}
	}
}

// TestJoinSecret: peers with the same secret join; a wrong secret, or a
// secret on one side only, fails on both sides with a message that says so.
func TestJoinSecret(t *testing.T) {
	for _, tc := range []struct {
		name     string
		a, b     string
		wantFail string
	}{
		{"same", "s3cret", "s3cret", ""},
		{"different", "s3cret", "guess", "does not know our secret"},
		{"one side", "s3cret", "", "--secret-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls := listeners(t, 2)
			errs := make(chan error, 2)
			for i, secret := range []string{tc.a, tc.b} {
				go func() {
					tr, err := joinWithSecret(ls, i, 8, []byte(secret))
					if tr != nil {
						tr.Close()
					}
					errs <- err
				}()
			}
			for range 2 {
				err := <-errs
				switch {
				case tc.wantFail == "" && err != nil:
					t.Errorf("want a join, got %v", err)
				case tc.wantFail != "" && (err == nil || !strings.Contains(err.Error(), "authentication failed") || !strings.Contains(err.Error(), tc.wantFail)):
					t.Errorf("want authentication failed ... %q, got %v", tc.wantFail, err)
				}
			}
		})
	}
}

// TestDisconnect: after Disconnect, Sends to the peer fail at once and both
// sides report the other lost; Disconnecting again, ourselves or a
// non-member does nothing.
func TestDisconnect(t *testing.T) {
	t0, t1 := joinPair(t, listeners(t, 2))
	lost0, lost1 := make(chan owner.NodeID, 2), make(chan owner.NodeID, 2)
	ignore := func(owner.Message) error { return nil }
	t0.Start(pairEvents(ignore, func(id owner.NodeID) { lost0 <- id }))
	t1.Start(pairEvents(ignore, func(id owner.NodeID) { lost1 <- id }))
	if heard := t0.LastHeard(1); time.Since(heard) > 5*time.Second {
		t.Errorf("last heard from the peer at %v", heard)
	}
	for _, id := range []owner.NodeID{0, 7} {
		if heard := t0.LastHeard(id); !heard.IsZero() {
			t.Errorf("last heard from node %d at %v", id, heard)
		}
	}

	for _, id := range []owner.NodeID{1, 1, 0, 7} {
		t0.Disconnect(id)
	}
	start := time.Now()
	if err := t0.Send(owner.Message{Type: owner.MsgRequest, To: 1}); err == nil {
		t.Error("Send after Disconnect succeeded")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Send after Disconnect took %v", took)
	}
	for _, tc := range []struct {
		lost chan owner.NodeID
		want owner.NodeID
	}{{lost0, 1}, {lost1, 0}} {
		select {
		case id := <-tc.lost:
			if id != tc.want {
				t.Errorf("lost node %d, want %d", id, tc.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("node %d not reported lost", tc.want)
		}
	}
	if err := t1.Send(owner.Message{Type: owner.MsgRequest, To: 0}); err == nil {
		t.Error("Send to the node that disconnected us succeeded")
	}
}

// TestJoinSaysWhomItWaitsFor: a join still waiting says, every Progress,
// which peers it waits for.
func TestJoinSaysWhomItWaitsFor(t *testing.T) {
	ls := listeners(t, 2)
	defer ls[1].Close()
	var logs strings.Builder
	cfg := config(ls, 0)
	cfg.JoinTimeout, cfg.Progress = 500*time.Millisecond, 50*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := Join(context.Background(), cfg); err == nil {
		t.Fatal("joined a peer that never answered")
	}
	if want := `msg="waiting for ` + ls[1].Addr().String() + `"`; !strings.Contains(logs.String(), want) {
		t.Errorf("the log lacks %s:\n%s", want, logs.String())
	}
}
