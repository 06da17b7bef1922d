package net

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	stdnet "net"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// joinBoth joins both members of ls with cfg changed by edit, node 1
// first, then node 0 once between returns; it fails the test unless both
// join.
func joinBoth(t *testing.T, ls []stdnet.Listener, edit func(*Config), between func()) {
	t.Helper()
	errs := make(chan error, 2)
	join := func(i int) {
		cfg := config(ls, i)
		edit(&cfg)
		tr, err := Join(t.Context(), cfg)
		if tr != nil {
			tr.Close()
		}
		errs <- err
	}
	go join(1)
	between()
	go join(0)
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestJoinDespiteIdleStrangers: ten connections that never say anything,
// made before the join, hold up neither side: each handshake has its own
// deadline, and they run at once.
func TestJoinDespiteIdleStrangers(t *testing.T) {
	ls := listeners(t, 2)
	for range 10 {
		c, err := stdnet.Dial("tcp", ls[1].Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	start := time.Now()
	joinBoth(t, ls, func(cfg *Config) { cfg.JoinTimeout = 4 * time.Second }, func() {})
	t.Logf("joined after %v", time.Since(start))
}

// stranger dials addr, sends wire, and returns all it is sent until the
// connection closes.
func stranger(addr string, wire []byte) ([]byte, error) {
	c, err := stdnet.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * handshakeTimeout))
	if _, err := c.Write(wire); err != nil {
		return nil, err
	}
	got, err := io.ReadAll(c)
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil
	}
	return got, err
}

// strangerWire is a stranger's side of a handshake: a greeting, a proof
// it cannot have made, and a Hello that disagrees with the cluster.
func strangerWire(auth bool, members []string) []byte {
	var b bytes.Buffer
	g := greeting{Version: ProtocolVersion, Auth: auth}
	if auth {
		g.Nonce = make([]byte, nonceSize)
	}
	writeGreeting(&b, g)
	if auth {
		writeProof(&b, make([]byte, 32))
	}
	writeHello(&b, Hello{Name: members[0], PageSize: 4096, Pages: 9999, Block: 1, Members: members})
	return b.Bytes()
}

// TestStrangerCannotStopJoin: with a secret, strangers that claim to be
// the member that dials us, with no proof or a wrong one and a Hello that
// disagrees, neither stop the join nor learn who is in the cluster: they
// are sent a greeting, nothing more.
func TestStrangerCannotStopJoin(t *testing.T) {
	ls := listeners(t, 2)
	members := []string{ls[0].Addr().String(), ls[1].Addr().String()}
	secret := []byte("s3cret")
	joinBoth(t, ls, func(cfg *Config) { cfg.Secret = secret }, func() {
		for _, auth := range []bool{true, false} {
			got, err := stranger(members[1], strangerWire(auth, members))
			if err != nil {
				t.Fatalf("a stranger: %v", err)
			}
			if bytes.Contains(got, []byte(members[0])) || bytes.Contains(got, []byte("members")) {
				t.Errorf("a stranger was sent %q", got)
			}
			if _, err := readGreeting(bytes.NewReader(got)); err != nil {
				t.Errorf("a stranger was sent %q, not a greeting: %v", got, err)
			}
		}
	})
}

// TestAddressFilter: without a secret, a connection comes from a member
// if its address is one of the member's, or if both are on this machine.
func TestAddressFilter(t *testing.T) {
	a := netip.MustParseAddr
	local := []netip.Addr{a("10.1.0.5")}
	for _, tc := range []struct {
		member []netip.Addr
		remote netip.Addr
		want   bool
	}{
		{[]netip.Addr{a("10.0.0.2")}, a("10.0.0.2"), true},
		{[]netip.Addr{a("10.0.0.2")}, a("10.0.0.3"), false},
		{[]netip.Addr{a("10.0.0.2")}, a("127.0.0.1"), false}, // a local process is not a remote member
		{[]netip.Addr{a("127.0.0.1")}, a("127.0.0.1"), true}, // one machine, many ports
		{[]netip.Addr{a("127.0.1.1")}, a("127.0.0.1"), true}, // the hostname's loopback address
		{[]netip.Addr{a("10.1.0.5")}, a("127.0.0.1"), true},  // this machine by its own address
		{[]netip.Addr{a("127.0.0.1")}, a("10.1.0.5"), true},  //  and the other way round
		{[]netip.Addr{a("127.0.0.1")}, a("10.0.0.9"), false}, // another machine
		{[]netip.Addr{a("::1"), a("127.0.0.1")}, a("::1"), true},
		{nil, a("127.0.0.1"), false}, // a name that does not resolve
	} {
		if got := matches(tc.member, local, tc.remote); got != tc.want {
			t.Errorf("member %v, remote %v: %v, want %v", tc.member, tc.remote, got, tc.want)
		}
	}
}

// flakyListener fails its next fails Accepts with EMFILE, as a process
// out of file descriptors does.
type flakyListener struct {
	stdnet.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (stdnet.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &stdnet.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

func (l *flakyListener) SetDeadline(d time.Time) error {
	return l.Listener.(*stdnet.TCPListener).SetDeadline(d)
}

// TestAcceptSurvivesErrors: after accept errors (EMFILE under a flood),
// a running node still takes a restarted member back.
func TestAcceptSurvivesErrors(t *testing.T) {
	ls := listeners(t, 3)
	var flaky []*flakyListener
	for _, i := range []int{1, 2} {
		l := &flakyListener{Listener: ls[i]}
		ls[i] = l
		flaky = append(flaky, l)
	}
	c := newClusterOn(t, ls, 1)
	c.kill(0, []owner.NodeID{1, 2})
	for _, l := range flaky {
		l.fails.Store(5)
		// The accept loop waits in Accept already: a connection lets it
		// on to the failing ones.
		poke, err := stdnet.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		poke.Close()
	}
	c.setView([]owner.NodeID{1, 2}, []owner.NodeID{0})
	tr, err := c.restart(0, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.trs[0] = tr
	c.start(0)
	c.exchange(0, []owner.NodeID{0, 1, 2})
	for _, l := range flaky {
		if n := l.fails.Load(); n >= 0 {
			t.Errorf("the listener has %d failures left to give", n+1)
		}
	}
}

// fuzzConn is a connection whose peer sends wire and then closes; it keeps
// what it is sent.
type fuzzConn struct {
	r    io.Reader
	sent bytes.Buffer
}

func (c *fuzzConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *fuzzConn) Write(p []byte) (int, error) { return c.sent.Write(p) }
func (c *fuzzConn) Close() error                { return nil }
func (c *fuzzConn) LocalAddr() stdnet.Addr {
	return &stdnet.TCPAddr{IP: stdnet.IPv4(127, 0, 0, 1), Port: 2}
}
func (c *fuzzConn) RemoteAddr() stdnet.Addr {
	return &stdnet.TCPAddr{IP: stdnet.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzHandshake: whatever a peer sends, either side's handshake ends with
// the peer's Hello or an error, never a panic; and with a secret, a peer
// that cannot prove it (none can, here) is sent nothing about the
// cluster, only a greeting.
func FuzzHandshake(f *testing.F) {
	members := []string{"127.0.0.1:1", "127.0.0.1:2"}
	var g, gAuth, hello bytes.Buffer
	writeGreeting(&g, greeting{Version: ProtocolVersion})
	writeGreeting(&gAuth, greeting{Version: ProtocolVersion, Auth: true, Nonce: make([]byte, nonceSize)})
	writeHello(&hello, Hello{Name: members[0], PageSize: 4096, Pages: 8, Block: 1, Members: members})
	f.Add(false, false, append(bytes.Clone(g.Bytes()), hello.Bytes()...))
	f.Add(true, false, append(bytes.Clone(g.Bytes()), hello.Bytes()...))
	f.Add(false, true, append(append(bytes.Clone(gAuth.Bytes()), make([]byte, headerSize+32)...), hello.Bytes()...))
	f.Add(true, true, gAuth.Bytes())
	f.Add(false, false, hello.Bytes())
	f.Add(false, true, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, dialer, auth bool, wire []byte) {
		cfg := Config{Hello: Hello{Name: members[1], PageSize: 4096, Pages: 8, Block: 1, Members: members}, Self: 1}
		dialed := ""
		if dialer {
			cfg.Hello.Name, cfg.Self, dialed = members[0], 0, members[1]
		}
		if auth {
			cfg.Secret = []byte("s3cret")
		}
		tr := &TCP{cfg: cfg, log: slog.New(slog.DiscardHandler)}
		tr.refused = newRefusals(tr.log)
		if !auth {
			tr.filter = newAddrFilter(members, cfg.Self)
		}
		c := &fuzzConn{r: bytes.NewReader(wire)}
		_, err := tr.handshake(context.Background(), c, dialed, nil, func(Hello) []string { return nil })
		var mismatch *MismatchError
		var refusal *refusal
		if err != nil && !errors.As(err, &mismatch) && !errors.As(err, &refusal) {
			t.Fatalf("handshake error %T %v, neither a mismatch nor a refusal", err, err)
		}
		if auth && (err == nil || bytes.Contains(c.sent.Bytes(), []byte("members"))) {
			t.Fatalf("with a secret, a peer without it got %q (err %v)", c.sent.Bytes(), err)
		}
		if strings.Contains(c.sent.String(), "members") && errors.As(err, &refusal) && refusal.reason == reasonAddress {
			t.Fatalf("a peer refused for its address was sent %q", c.sent.Bytes())
		}
	})
}
