package net

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	stdnet "net"
	"strings"
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
	// Progress is how often a Join still waiting says for whom (5s if
	// zero).
	Progress time.Duration
	Logger   *slog.Logger
}

// After Start, a running node tries every redialInterval to reconnect to a
// restarted member it dials, each try's dial bounded by redialTimeout.
const (
	redialInterval = time.Second
	redialTimeout  = time.Second
)

// TCP is the transport between the members of one cluster: one connection
// per peer, the lower-numbered node dialing.
type TCP struct {
	cfg Config
	log *slog.Logger
	// conns holds the connection to each peer by NodeID: nil for
	// ourselves, for a dead member on a rejoin, and for a peer whose
	// connection ended and was reported lost. After Start, a restarted
	// member's new connection fills its empty place.
	conns []atomic.Pointer[conn]
	// rejoined is nil after a fresh start; after a rejoin, the members
	// alive then, ourselves included, sorted.
	rejoined []owner.NodeID
	// untold, by NodeID, are members that ended their connection in a
	// cluster without replicas: restarted, they wait in Join for a dial
	// that tells them at once that they cannot rejoin (see redial).
	untold  []atomic.Bool
	waiting sync.Once // logs once that the cluster still counts us alive
	// filter, without a secret or TLS, is who may connect: only members,
	// each from its own address. nil with either: then proofs say who
	// connects, not addresses.
	filter    *addrFilter
	refused   *refusals
	acceptLog *rateLog
	// untrusted holds a place for each accepted connection whose peer is
	// not trusted yet: at most maxUntrusted.
	untrusted chan struct{}
	// ctx ends at Close: it stops redials and handshakes under way.
	ctx    context.Context
	stop   context.CancelFunc
	closed atomic.Bool
}

// Join connects to every peer and checks that each agrees with us about the
// cluster. It fails with a *MismatchError as soon as a trusted peer (see
// shake) disagrees, and with an error naming the missing peers, and why,
// when JoinTimeout passes: anyone else, however wrong, is refused and
// waited past.
//
// A peer whose Hello lists live members belongs to a running cluster: this
// process restarts a member that died. Join then connects to the live
// members only, and returns as soon as it has them all (see Rejoined).
func Join(ctx context.Context, cfg Config) (*TCP, error) {
	t := &TCP{cfg: cfg, log: cfg.Logger, conns: make([]atomic.Pointer[conn], len(cfg.Hello.Members)),
		untold: make([]atomic.Bool, len(cfg.Hello.Members)), untrusted: make(chan struct{}, maxUntrusted)}
	if t.log == nil {
		t.log = slog.Default()
	}
	t.refused, t.acceptLog = newRefusals(t.log), newRateLog(t.log, 10*time.Second, 3)
	if len(cfg.Secret) == 0 && cfg.TLS == nil {
		t.filter = newAddrFilter(cfg.Hello.Members, cfg.Self)
		t.log.Warn("peers are not authenticated: any process that can connect from a member's address can join as that member, and on one machine any local process can; give every node --secret-file (make one with `dsmfs secret`) or --tls-cert, --tls-key and --tls-ca")
	}
	t.ctx, t.stop = context.WithCancel(context.Background())
	ctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
	joined := make(chan joinResult, len(t.conns)) // buffered: late results must not block
	var tries sync.WaitGroup
	defer func() {
		// Stop the tries left (on a rejoin, those of dead members) and
		// close what they connected meanwhile. Waiting for them leaves
		// the listener to Start alone.
		cancel()
		tries.Wait()
		close(joined)
		for r := range joined {
			if r.conn != nil {
				r.conn.c.Close()
			}
		}
	}()
	lower := 0
	for id := range t.conns {
		switch {
		case owner.NodeID(id) < cfg.Self:
			lower++
		case owner.NodeID(id) > cfg.Self:
			tries.Go(func() { joined <- t.dial(ctx, owner.NodeID(id)) })
		}
	}
	if lower > 0 {
		tries.Go(func() { t.acceptPeers(ctx, lower, joined) })
	}

	want := map[owner.NodeID]bool{} // the peers to connect to: all, or on a rejoin the live ones
	for id := range t.conns {
		if owner.NodeID(id) != cfg.Self {
			want[owner.NodeID(id)] = true
		}
	}
	failures := map[owner.NodeID]error{}
	progress := time.NewTicker(cmp.Or(cfg.Progress, 5*time.Second))
	defer progress.Stop()
	started := time.Now()
	for pending := len(t.conns) - 1; pending > 0 && !t.connected(want); pending-- {
		var r joinResult
		for got := false; !got; {
			select {
			case r = <-joined:
				got = true
			case <-progress.C:
				t.log.Info("waiting for "+strings.Join(t.missing(want), ", "), "waited", time.Since(started).Round(time.Second), "join_timeout", cfg.JoinTimeout)
			}
		}
		var mismatch *MismatchError
		switch {
		case errors.As(r.err, &mismatch):
			t.closeConns()
			return nil, r.err
		case r.err != nil:
			failures[r.peer] = r.err
		default:
			if len(r.live) > 0 && t.rejoined == nil {
				want = t.rejoin(r.live)
			}
			if want[r.peer] {
				t.conns[r.peer].Store(r.conn)
			} else {
				r.conn.c.Close() // a dead member's, on a rejoin
			}
		}
	}
	var errs []error
	for id := range t.conns {
		if want[owner.NodeID(id)] && t.conns[id].Load() == nil {
			errs = append(errs, fmt.Errorf("peer %s not joined within %v: %w", cfg.Hello.Members[id], cfg.JoinTimeout, failures[owner.NodeID(id)]))
		}
	}
	if len(errs) > 0 {
		t.closeConns()
		return nil, errors.Join(errs...)
	}
	if cfg.PeerTimeout > 0 {
		// From the join on, not from Start: what the node does between
		// the two (preloading a large segment) may take longer than
		// PeerTimeout, and peers that started already listen.
		go t.beat()
	}
	return t, nil
}

// missing names the peers in want not connected yet.
func (t *TCP) missing(want map[owner.NodeID]bool) []string {
	var names []string
	for id := range t.conns {
		if want[owner.NodeID(id)] && t.conns[id].Load() == nil {
			names = append(names, t.cfg.Hello.Members[id])
		}
	}
	return names
}

type joinResult struct {
	peer owner.NodeID
	conn *conn
	live []string // the peer's Hello.Live
	err  error
}

// dial connects to a higher-numbered peer, retrying until ctx ends.
func (t *TCP) dial(ctx context.Context, id owner.NodeID) joinResult {
	addr := t.cfg.Hello.Members[id]
	var why error // the failure of the last try that ctx did not cut short
	for {
		c, err := t.connect(ctx, addr)
		if err == nil {
			var hello Hello
			hello, err = t.handshake(ctx, c, addr, nil, nil)
			if err == nil {
				err = t.checkRunning(hello)
			}
			if err == nil {
				return joinResult{peer: id, conn: t.newConn(id, c), live: hello.Live}
			}
			c.Close()
		}
		var mismatch *MismatchError
		var refusal *refusal
		if errors.As(err, &mismatch) {
			return joinResult{peer: id, err: err}
		}
		if why == nil || !ended(ctx) {
			why = err
		}
		retry := 100 * time.Millisecond
		switch {
		case errors.Is(err, errNotRecovered): // recovery takes peer timeouts; the peer logs each refusal
			retry = time.Second
		case errors.As(err, &refusal): // an untrusted peer, or one that refused us: the error says why once we give up
			retry = time.Second
			t.refused.log.warn("cannot join peer yet", "peer", addr, "err", err)
		}
		select {
		case <-ctx.Done():
			return joinResult{peer: id, err: why}
		case <-time.After(retry):
		}
	}
}

// ended says whether ctx has ended, even if its timer has not said so yet:
// a dial fails at once after the deadline, maybe before ctx.Err says it.
func ended(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(deadline)
}

// connect dials addr, in TLS if the cluster uses it.
func (t *TCP) connect(ctx context.Context, addr string) (stdnet.Conn, error) {
	var d stdnet.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || t.cfg.TLS == nil {
		return c, err
	}
	tc := tls.Client(c, t.cfg.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		// Whoever answers at the address is not trusted yet: it may be
		// a stranger that took the port, so this stops no join.
		c.Close()
		return nil, refused(reasonAuth, "TLS with peer %s failed: %v", addr, err)
	}
	return tc, nil
}

// acceptPeers accepts the lower-numbered peers, which dial us. Each
// connection shakes hands on its own, under its own deadline, so that
// strangers, however many or slow, hold up no member; a trusted peer's
// disagreement stops the join, anything else is refused and the wait goes
// on. It reports each lower peer on joined, connected or not once ctx
// ends, or one MismatchError.
func (t *TCP) acceptPeers(ctx context.Context, lower int, joined chan<- joinResult) {
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan joinResult)
	stopAccepting := t.acceptUntil(ctx, func(c stdnet.Conn) {
		r := t.acceptJoiner(ctx, c)
		select {
		case results <- r:
		case <-ctx.Done():
			if r.conn != nil {
				r.conn.c.Close()
			}
		}
	})
	defer func() {
		cancel()
		stopAccepting()
	}()
	seen := map[owner.NodeID]bool{}
	for len(seen) < lower {
		var r joinResult
		select {
		case r = <-results:
		case <-ctx.Done():
			for id := range owner.NodeID(t.cfg.Self) {
				if !seen[id] {
					joined <- joinResult{peer: id, err: t.notDialed(t.refused.summary())}
				}
			}
			return
		}
		var mismatch *MismatchError
		switch {
		case errors.As(r.err, &mismatch):
			joined <- r
			return
		case r.err != nil:
		case seen[r.peer]:
			r.conn.c.Close()
			t.refused.note(r.conn.c.RemoteAddr(), asRefusal(refused(reasonUnexpected, "a second connection says it is %s, which is connected already", r.conn.name)))
		default:
			seen[r.peer] = true
			joined <- r
		}
	}
}

// notDialed is why a lower-numbered peer, which dials us, did not connect:
// it is not up, or it runs already and does not take this node back; and
// whom this node refused meanwhile, if anyone.
func (t *TCP) notDialed(refused string) error {
	why := "it did not connect to us (it dials: its name sorts before ours); if the cluster is running, it takes this node back once it has recovered from this node's death"
	if t.cfg.Hello.Replicas == 0 {
		why = "it did not connect to us (it dials: its name sorts before ours); if it is running, this node was restarted into a cluster without --replicas, which never takes a node back: stop every node and start them all again"
	}
	if refused != "" {
		why += "; meanwhile " + refused
	}
	return errors.New(why)
}

// acceptJoiner shakes hands with a peer that connected during Join. It
// closes the connection unless it returns it.
func (t *TCP) acceptJoiner(ctx context.Context, c stdnet.Conn) joinResult {
	hello, err := t.accepted(ctx, c, func(Hello) []string { return nil })
	if err == nil {
		err = t.checkRunning(hello)
	}
	id, member := t.memberID(hello.Name)
	var mismatch *MismatchError
	switch {
	case errors.As(err, &mismatch):
	case errors.Is(err, errNotRecovered): // logged once; the peer dials again
	case err != nil:
		if ctx.Err() == nil {
			t.refused.note(c.RemoteAddr(), asRefusal(err))
		}
	case !member || id >= t.cfg.Self:
		err = refused(reasonUnexpected, "%s says it is %s, which does not dial us", c.RemoteAddr(), hello.Name)
		t.refused.note(c.RemoteAddr(), asRefusal(err))
	default:
		return joinResult{peer: id, conn: t.newConn(id, c), live: hello.Live}
	}
	c.Close()
	return joinResult{peer: owner.None, err: err}
}

// accepted shakes hands on a connection we accepted, after, without a
// secret or TLS, checking that it comes from a member's address: a
// connection from anywhere else is refused before a byte is sent.
func (t *TCP) accepted(ctx context.Context, c stdnet.Conn, answer func(peer Hello) []string) (Hello, error) {
	if t.filter != nil && !t.filter.fromMember(ctx, c) {
		return Hello{}, refused(reasonAddress, "connection from %s: not from a member's address (without --secret-file or --tls-*, only members' addresses may connect)", c.RemoteAddr())
	}
	return t.handshake(ctx, c, "", nil, answer)
}

func (t *TCP) memberID(name string) (owner.NodeID, bool) {
	for id, n := range t.cfg.Hello.Members {
		if n == name {
			return owner.NodeID(id), true
		}
	}
	return owner.None, false
}

func (t *TCP) newConn(id owner.NodeID, c stdnet.Conn) *conn {
	return newConn(id, t.cfg.Hello.Members[id], c, t.cfg.Hello.unit(), t.cfg.PeerTimeout)
}

// Events is what the transport reports, and what it asks the node. All are
// called from the transport's goroutines, concurrently.
type Events struct {
	// Deliver gets every message from every peer, from one goroutine per
	// peer; a message it rejects ends the connection it came on.
	Deliver func(owner.Message) error
	// Lost is told when a connection ends other than by Close: the peer
	// died, or was declared dead for silence. A restarted peer may then
	// connect again (see CanRejoin), and be lost again.
	Lost func(owner.NodeID)
	// Fenced is told when this process was stopped for longer than
	// PeerTimeout: its peers have declared it dead.
	Fenced func(paused time.Duration)
	// Live is the members alive now, ourselves included. Each Hello after
	// Start carries it: a restarted member learns from it that the
	// cluster runs, whom to connect to, and whether the cluster still
	// counts it alive.
	Live func() []owner.NodeID
	// CanRejoin says whether member id, restarted, may connect again: it
	// is no longer a member (its death was recovered, or it left).
	CanRejoin func(id owner.NodeID) bool
}

// Start reports events from the peers, declares silent ones dead if
// PeerTimeout is set, and takes back restarted members: it answers late
// connections and redials those it dials.
func (t *TCP) Start(ev Events) {
	for i := range t.conns {
		if c := t.conns[i].Load(); c != nil {
			go t.readLoop(c, ev)
		}
	}
	if t.cfg.PeerTimeout > 0 {
		go t.watch(ev.Fenced)
	}
	go t.acceptLateComers(ev)
	go t.redial(ev)
}

func (t *TCP) readLoop(c *conn, ev Events) {
	in := heardReader{r: c.c, last: &c.lastHeard}
	dec := newDecoder(bufio.NewReaderSize(in, 64<<10), c.peer, t.cfg.Self, t.cfg.Hello.dims())
	err := deliverAll(c, dec, ev.Deliver)
	switch {
	case t.closed.Load(), c.dead.Load():
	case errors.Is(err, io.EOF):
		t.log.Warn("peer closed the connection", "peer", c.name)
	default:
		t.log.Error("dropping connection to peer", "peer", c.name, "err", err)
	}
	c.c.Close()
	if !t.closed.Load() {
		if t.cfg.Hello.Replicas == 0 && !c.dead.Load() {
			t.untold[c.peer].Store(true) // it ended the connection: it died or left
		}
		ev.Lost(c.peer)
	}
	// Only now may a restarted peer's new connection take this one's
	// place: the peer is reported lost before anything new comes from it.
	t.conns[c.peer].Store(nil)
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

// Send writes m to its peer as one frame, or queues it behind the frames
// before it (see conn): it never waits for the peer, and m.Data may change
// once it returns. It fails if the connection is gone or dead, or the peer
// has fallen far behind (its connection is then closed).
func (t *TCP) Send(m owner.Message) error {
	c := t.peer(m.To)
	if c == nil {
		return fmt.Errorf("no connection to node %d", m.To)
	}
	return c.send(m)
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
// ourselves, for a node that is not a member, and for a peer with no
// connection (lost, or dead when we rejoined).
func (t *TCP) LastHeard(peer owner.NodeID) time.Time {
	c := t.peer(peer)
	if c == nil {
		return time.Time{}
	}
	return time.Unix(0, c.lastHeard.Load())
}

// peer is the connection to node id, nil for ourselves, non-members and
// peers with none.
func (t *TCP) peer(id owner.NodeID) *conn {
	if int(id) >= len(t.conns) {
		return nil
	}
	return t.conns[id].Load()
}

// Close ends every connection and stops accepting and redialing.
func (t *TCP) Close() {
	t.closed.Store(true)
	t.stop()
	t.cfg.Listener.Close()
	t.closeConns()
}

func (t *TCP) closeConns() {
	for i := range t.conns {
		if c := t.conns[i].Load(); c != nil {
			c.c.Close()
		}
	}
}
