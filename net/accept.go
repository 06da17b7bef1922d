package net

import (
	"context"
	"crypto/tls"
	"errors"
	stdnet "net"
	"os"
	"sync"
	"time"
)

// Accepting connections. The listener is the only door into the cluster,
// so an accept error never closes it: errors such as EMFILE under a flood
// of connections are retried with backoff, as net/http's Server does, and
// logged at most now and then. Each connection then shakes hands on its
// own goroutine, under its own deadline, so a silent stranger holds up no
// one; at most maxUntrusted connections may be in a handshake at once, and
// the rest are closed at once (a member whose connection is closed dials
// again).

// maxUntrusted bounds the connections whose peer is not trusted yet.
const maxUntrusted = 64

// Accept errors are retried after acceptBackoff, doubled at each error in a
// row up to maxAcceptBackoff.
const (
	acceptBackoff    = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// acceptLoop hands every connection the listener accepts to handle, in
// TLS if the cluster uses it (the TLS handshake itself runs in handshake,
// under its deadline), each on a goroutine of its own, holding a place
// among the maxUntrusted until handle returns. It stops when the listener
// closes, when its deadline passes (which is how Join stops it), or when
// done is closed while it waits to retry, and returns once every handle
// has.
func (t *TCP) acceptLoop(done <-chan struct{}, handle func(stdnet.Conn)) {
	var handlers sync.WaitGroup
	defer handlers.Wait()
	backoff := time.Duration(0)
	for {
		c, err := t.cfg.Listener.Accept()
		if errors.Is(err, stdnet.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if err != nil {
			backoff = min(max(2*backoff, acceptBackoff), maxAcceptBackoff)
			t.acceptLog.warn("cannot accept a connection; retrying", "err", err, "in", backoff)
			select {
			case <-done:
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		select {
		case t.untrusted <- struct{}{}:
		default:
			c.Close()
			t.refused.note(c.RemoteAddr(), asRefusal(refused(reasonBusy, "%d connections are shaking hands already", maxUntrusted)))
			continue
		}
		if t.cfg.TLS != nil {
			c = tls.Server(c, t.cfg.TLS)
		}
		handlers.Go(func() {
			defer func() { <-t.untrusted }()
			handle(c)
		})
	}
}

// acceptUntil runs acceptLoop until ctx ends. The returned wait, called
// once ctx has ended, returns when the loop has stopped, with the
// listener's deadline lifted for the next loop.
func (t *TCP) acceptUntil(ctx context.Context, handle func(stdnet.Conn)) (wait func()) {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t.acceptLoop(ctx.Done(), handle)
	}()
	// When ctx ends, a past deadline stops Accept.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { t.setAcceptDeadline(time.Now()); close(fired) })
	return func() {
		<-stopped
		if !stop() {
			<-fired
		}
		t.setAcceptDeadline(time.Time{})
	}
}

func (t *TCP) setAcceptDeadline(when time.Time) {
	if l, ok := t.cfg.Listener.(interface{ SetDeadline(time.Time) error }); ok {
		l.SetDeadline(when)
	}
}
