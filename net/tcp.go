package net

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	stdnet "net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// Config describes this node to its peers.
type Config struct {
	// Hello is what we tell peers; Hello.Members[Self] is our name and
	// every other member's name is the address we dial it at.
	Hello    Hello
	Self     owner.NodeID
	Listener stdnet.Listener
	// Secret, if set, is the cluster's shared secret: a peer must prove
	// it knows it before anything else (see auth.go).
	Secret []byte
	// TLS, if set, encrypts every connection (see TLSConfig).
	TLS *tls.Config
	// PeerTimeout is how long a peer may be silent before it is declared
	// dead; zero sends no heartbeats and waits forever.
	PeerTimeout time.Duration
	// JoinTimeout bounds how long Join waits for all peers.
	JoinTimeout time.Duration
	Logger      *slog.Logger
}

// handshakeTimeout bounds one handshake, so a silent or slow stranger on
// the port cannot hold us up.
const handshakeTimeout = 5 * time.Second

// TCP is the transport between the members of one cluster: one connection
// per peer, the lower-numbered node dialing.
type TCP struct {
	cfg    Config
	log    *slog.Logger
	conns  []*conn // by NodeID, nil for ourselves; fixed once Join returns
	closed atomic.Bool
}

// conn is the connection to one peer.
type conn struct {
	peer      owner.NodeID
	name      string
	c         stdnet.Conn
	wmu       sync.Mutex
	wbuf      []byte       // guarded by wmu: one frame is built here, then written at once
	lastHeard atomic.Int64 // unix nanoseconds of the last bytes from the peer
	dead      atomic.Bool  // declared dead for silence, or disconnected
}

// Join connects to every peer and checks that each agrees with us about the
// cluster. It fails with a *MismatchError as soon as one disagrees, and with
// an error naming the missing peers when JoinTimeout passes.
func Join(ctx context.Context, cfg Config) (*TCP, error) {
	t := &TCP{cfg: cfg, log: cfg.Logger, conns: make([]*conn, len(cfg.Hello.Members))}
	if t.log == nil {
		t.log = slog.Default()
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancel()

	joined := make(chan joinResult, len(t.conns)) // buffered: late results after a failure must not block
	lower := 0
	for id := range t.conns {
		switch {
		case owner.NodeID(id) < cfg.Self:
			lower++
		case owner.NodeID(id) > cfg.Self:
			go func() { joined <- t.dial(ctx, owner.NodeID(id)) }()
		}
	}
	if lower > 0 {
		go t.acceptPeers(ctx, lower, joined)
	}

	failures := map[owner.NodeID]error{}
	for pending := len(t.conns) - 1; pending > 0; pending-- {
		r := <-joined
		var mismatch *MismatchError
		switch {
		case errors.As(r.err, &mismatch):
			cancel()
			t.closeConns()
			return nil, r.err
		case r.err != nil:
			failures[r.peer] = r.err
		default:
			t.conns[r.conn.peer] = r.conn
		}
	}
	if len(failures) > 0 {
		t.closeConns()
		var errs []error
		for id, err := range failures {
			errs = append(errs, fmt.Errorf("peer %s not joined within %v: %w", cfg.Hello.Members[id], cfg.JoinTimeout, err))
		}
		return nil, errors.Join(errs...)
	}
	return t, nil
}

type joinResult struct {
	peer owner.NodeID
	conn *conn
	err  error
}

// dial connects to a higher-numbered peer, retrying until ctx ends.
func (t *TCP) dial(ctx context.Context, id owner.NodeID) joinResult {
	addr := t.cfg.Hello.Members[id]
	var d stdnet.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil && t.cfg.TLS != nil {
			tc := tls.Client(c, t.cfg.TLS)
			if err = tc.HandshakeContext(ctx); err != nil {
				// A member that refuses our certificate, or whose
				// certificate we refuse, is misconfigured: stop.
				c.Close()
				return joinResult{peer: id, err: &MismatchError{fmt.Sprintf("TLS with peer %s failed: %v", addr, err)}}
			}
			c = tc
		}
		if err == nil {
			var hello Hello
			hello, err = t.handshake(c)
			if err == nil && hello.Name != addr {
				err = &MismatchError{fmt.Sprintf("peer %s calls itself %s", addr, hello.Name)}
			}
			if err == nil {
				return joinResult{peer: id, conn: t.newConn(id, c)}
			}
			c.Close()
			var mismatch *MismatchError
			if errors.As(err, &mismatch) {
				return joinResult{peer: id, err: err}
			}
		}
		select {
		case <-ctx.Done():
			return joinResult{peer: id, err: err}
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// acceptPeers accepts the lower-numbered peers, which dial us. Strangers and
// garbage are logged and dropped; the wait goes on.
func (t *TCP) acceptPeers(ctx context.Context, want int, joined chan<- joinResult) {
	stop := context.AfterFunc(ctx, func() { t.setAcceptDeadline(time.Now()) })
	defer stop()
	defer t.setAcceptDeadline(time.Time{})
	seen := map[owner.NodeID]bool{}
	for len(seen) < want {
		c, err := t.accept()
		if err != nil {
			for id := range owner.NodeID(t.cfg.Self) {
				if !seen[id] {
					joined <- joinResult{peer: id, err: fmt.Errorf("it did not connect to us (it dials, its name sorts before ours)")}
				}
			}
			return
		}
		hello, err := t.handshake(c)
		var mismatch *MismatchError
		if errors.As(err, &mismatch) {
			c.Close()
			joined <- joinResult{peer: owner.None, err: err}
			return
		}
		id, ok := t.memberID(hello.Name)
		switch {
		case err != nil:
			t.log.Warn("dropping connection", "remote", c.RemoteAddr().String(), "err", err)
		case !ok || id >= t.cfg.Self || seen[id]:
			t.log.Warn("dropping unexpected connection", "remote", c.RemoteAddr().String(), "name", hello.Name)
			err = errors.New("unexpected")
		}
		if err != nil {
			c.Close()
			continue
		}
		seen[id] = true
		joined <- joinResult{peer: id, conn: t.newConn(id, c)}
	}
}

// accept takes the next connection, in TLS if the cluster uses it; the TLS
// handshake itself runs in handshake, under its deadline.
func (t *TCP) accept() (stdnet.Conn, error) {
	c, err := t.cfg.Listener.Accept()
	if err == nil && t.cfg.TLS != nil {
		c = tls.Server(c, t.cfg.TLS)
	}
	return c, err
}

func (t *TCP) setAcceptDeadline(when time.Time) {
	if l, ok := t.cfg.Listener.(*stdnet.TCPListener); ok {
		l.SetDeadline(when)
	}
}

func (t *TCP) memberID(name string) (owner.NodeID, bool) {
	for id, n := range t.cfg.Hello.Members {
		if n == name {
			return owner.NodeID(id), true
		}
	}
	return owner.None, false
}

// handshake exchanges Hellos on a new connection and checks the peer's.
func (t *TCP) handshake(c stdnet.Conn) (Hello, error) {
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.SetDeadline(time.Time{})
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			return Hello{}, fmt.Errorf("TLS with %s failed: %w", c.RemoteAddr(), err)
		}
	}
	ours := t.cfg.Hello
	ours.Auth = len(t.cfg.Secret) > 0
	if ours.Auth {
		var err error
		if ours.Nonce, err = newNonce(); err != nil {
			return Hello{}, err
		}
	}
	if err := writeHello(c, ours); err != nil {
		return Hello{}, err
	}
	peer, err := readHello(c)
	if err != nil {
		return Hello{}, err
	}
	if err := ours.check(peer); err != nil {
		return peer, err
	}
	if ours.Auth {
		if len(peer.Nonce) != nonceSize {
			return peer, &MismatchError{fmt.Sprintf("authentication failed for peer %s: no proper nonce", peer.Name)}
		}
		return peer, authenticate(c, t.cfg.Secret, ours, peer)
	}
	return peer, nil
}

func (t *TCP) newConn(id owner.NodeID, c stdnet.Conn) *conn {
	cn := &conn{peer: id, name: t.cfg.Hello.Members[id], c: c, wbuf: make([]byte, headerSize+t.cfg.Hello.unit())}
	cn.lastHeard.Store(time.Now().UnixNano())
	return cn
}

// Events is what the transport reports.
type Events struct {
	// Deliver gets every message from every peer, from one goroutine per
	// peer; a message it rejects ends the connection it came on.
	Deliver func(owner.Message) error
	// Lost is told when a connection ends other than by Close: the peer
	// died, or was declared dead for silence.
	Lost func(owner.NodeID)
	// Fenced is told when this process was stopped for longer than
	// PeerTimeout: its peers have declared it dead.
	Fenced func(paused time.Duration)
}

// Start reports events from the peers, sends heartbeats if PeerTimeout is
// set, and drops late connections.
func (t *TCP) Start(ev Events) {
	for _, c := range t.conns {
		if c != nil {
			go t.readLoop(c, ev)
		}
	}
	if t.cfg.PeerTimeout > 0 {
		go t.watch(ev.Fenced)
	}
	go t.refuseLateComers()
}

func (t *TCP) readLoop(c *conn, ev Events) {
	in := heardReader{r: c.c, last: &c.lastHeard}
	dec := newDecoder(bufio.NewReaderSize(in, 64<<10), c.peer, t.cfg.Hello.unit(), t.cfg.Hello.units(), len(t.cfg.Hello.Members))
	err := deliverAll(c, dec, ev.Deliver)
	defer func() {
		if !t.closed.Load() {
			ev.Lost(c.peer)
		}
	}()
	switch {
	case t.closed.Load(), c.dead.Load():
	case errors.Is(err, io.EOF):
		t.log.Warn("peer closed the connection", "peer", c.name)
	default:
		t.log.Error("dropping connection to peer", "peer", c.name, "err", err)
	}
	c.c.Close()
}

// deliverAll delivers messages until one fails to decode or is rejected, or
// the connection is declared dead.
func deliverAll(c *conn, dec *decoder, deliver func(owner.Message) error) error {
	for {
		m, err := dec.next()
		if err == nil && c.dead.Load() {
			// Closing the socket leaves frames in the read buffer;
			// none may be delivered after Disconnect.
			err = stdnet.ErrClosed
		}
		if err == nil {
			err = deliver(m)
		}
		if err != nil {
			return err
		}
	}
}

// refuseLateComers answers connections after Join: the cluster is complete,
// so anyone calling now is a stranger, a garbage sender or a restarted peer,
// which this version cannot take back.
func (t *TCP) refuseLateComers() {
	for {
		c, err := t.accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			hello, err := t.handshake(c)
			if err == nil {
				err = errors.New("the cluster is complete; a restarted node cannot rejoin")
			}
			t.log.Warn("refusing connection", "remote", c.RemoteAddr().String(), "name", hello.Name, "err", err)
		}()
	}
}

// Send writes m to its peer as one frame. It returns once the frame is in
// the kernel's socket buffer, so m.Data may change afterwards.
func (t *TCP) Send(m owner.Message) error {
	c := t.peer(m.To)
	if c == nil {
		return fmt.Errorf("no connection to node %d", m.To)
	}
	if c.dead.Load() {
		// Fail at once, without waiting for a send stuck on the lock.
		return fmt.Errorf("connection to node %d (%s) is dead", m.To, c.name)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if t.cfg.PeerTimeout > 0 {
		// A stopped peer stops reading; never wait on it longer than
		// it takes to declare it dead.
		c.c.SetWriteDeadline(time.Now().Add(t.cfg.PeerTimeout))
		defer c.c.SetWriteDeadline(time.Time{})
	}
	if headerSize+len(m.Data) > len(c.wbuf) {
		c.wbuf = make([]byte, headerSize+len(m.Data)) // an owners reply or recovery; rare
	}
	if _, err := c.c.Write(encodeMessage(c.wbuf, m)); err != nil {
		// Part of the frame may be out: the stream is no longer
		// framed, so end it; the reader reports the peer lost.
		c.c.Close()
		return err
	}
	return nil
}

// Disconnect closes the connection to peer for good: later Sends to it fail
// at once, and nothing more is delivered from it but a delivery already
// under way. Its read loop then ends and reports it Lost, as for a peer
// declared dead for silence; the peer sees the connection close and reports
// us Lost. Disconnecting a peer
// twice, or one whose connection is gone already, does nothing more.
func (t *TCP) Disconnect(peer owner.NodeID) {
	c := t.peer(peer)
	if c == nil || c.dead.Swap(true) {
		return
	}
	t.log.Warn("disconnecting peer", "peer", c.name)
	c.c.Close()
}

// LastHeard is when bytes last arrived from peer (at first, when it
// joined); if PeerTimeout is set, heartbeats keep it within about
// PeerTimeout/4 of now while the peer lives. It is the zero time for
// ourselves and for a node that is not a member.
func (t *TCP) LastHeard(peer owner.NodeID) time.Time {
	c := t.peer(peer)
	if c == nil {
		return time.Time{}
	}
	return time.Unix(0, c.lastHeard.Load())
}

// peer is the connection to node id, nil for ourselves and non-members.
func (t *TCP) peer(id owner.NodeID) *conn {
	if int(id) >= len(t.conns) {
		return nil
	}
	return t.conns[id]
}

// Close ends every connection and stops accepting.
func (t *TCP) Close() {
	t.closed.Store(true)
	t.cfg.Listener.Close()
	t.closeConns()
}

func (t *TCP) closeConns() {
	for _, c := range t.conns {
		if c != nil {
			c.c.Close()
		}
	}
}
