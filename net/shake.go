package net

import (
	"context"
	"crypto/tls"
	"fmt"
	stdnet "net"
	"time"
)

// handshakeTimeout bounds one handshake, so a silent or slow stranger on
// the port cannot hold us up.
const handshakeTimeout = 5 * time.Second

// The two sides of a connection, as the proofs name them.
const (
	sideDialer   = "dialer"
	sideAcceptor = "acceptor"
)

// shake is one side of a handshake (see handshake.go for the steps).
type shake struct {
	t   *TCP
	ctx context.Context
	c   stdnet.Conn
	// dialed is the member this side dialed; "" on the accepting side.
	dialed string
	// trusted says the peer has shown it is a member: it proved the
	// secret, or presented a certificate of the CA, or, with neither,
	// connects from a member's address (or was dialed at one). Only a
	// trusted peer's disagreement is a MismatchError, which stops a join.
	trusted bool
}

// handshake shakes hands on a new connection: as the dialer of member
// dialed, whose Hello lists live; or, with dialed "", as the accepting
// side, whose Hello lists answer(the dialer's Hello). It returns the
// peer's Hello. An error is a *MismatchError from a trusted peer that
// disagrees with us, or else a *refusal. The connection is closed if ctx
// ends first.
func (t *TCP) handshake(ctx context.Context, c stdnet.Conn, dialed string, live []string, answer func(peer Hello) []string) (peer Hello, err error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer func() {
		if !stop() && err == nil {
			err = refused(reasonHandshake, "handshake cut short: %w", ctx.Err())
		}
	}()
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.SetDeadline(time.Time{})
	s := &shake{t: t, ctx: ctx, c: c, dialed: dialed, trusted: t.cfg.Secret == nil && t.cfg.TLS == nil}
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			return Hello{}, refused(reasonAuth, "TLS with %s failed: %v", s.who(), err)
		}
		s.trusted = t.cfg.Secret == nil
	}
	ours, theirs, err := s.greet()
	if err != nil {
		return Hello{}, err
	}
	if ours.Auth {
		if err := s.prove(ours, theirs); err != nil {
			return Hello{}, err
		}
	}
	return s.hellos(live, answer)
}

// who names the peer in errors.
func (s *shake) who() string {
	if s.dialed != "" {
		return "peer " + s.dialed
	}
	return "connection from " + s.c.RemoteAddr().String()
}

// disagree is the error for a peer that disagrees with us: a
// MismatchError if it is trusted, a refusal for reason if not.
func (s *shake) disagree(reason, format string, args ...any) error {
	if s.trusted {
		return &MismatchError{fmt.Sprintf(format, args...)}
	}
	return refused(reason, format, args...)
}

// greet exchanges greetings, the accepting side answering the dialer's
// (even one it disagrees with, so that the dialer can say why), and
// checks the peer's.
func (s *shake) greet() (ours, theirs greeting, err error) {
	ours = greeting{Version: ProtocolVersion, Auth: len(s.t.cfg.Secret) > 0}
	if ours.Auth {
		if ours.Nonce, err = newNonce(); err != nil {
			return ours, theirs, err
		}
	}
	if s.dialed != "" {
		err = writeGreeting(s.c, ours)
	}
	if err == nil {
		theirs, err = readGreeting(s.c)
	}
	if err == nil && s.dialed == "" {
		err = writeGreeting(s.c, ours)
	}
	if err != nil {
		return ours, theirs, refused(reasonHandshake, "%s: %v", s.who(), err)
	}
	return ours, theirs, ours.check(theirs, s.who(), s.disagree)
}

// prove exchanges proofs of the secret: the dialer's first, then, if it
// is right, the accepting side's.
func (s *shake) prove(ours, theirs greeting) error {
	secret := s.t.cfg.Secret
	if s.dialed != "" {
		if err := writeProof(s.c, authMAC(secret, sideDialer, s.dialed, ours.Nonce, theirs.Nonce)); err != nil {
			return refused(reasonHandshake, "%s: %v", s.who(), err)
		}
		ok, err := readProof(s.c, authMAC(secret, sideAcceptor, s.dialed, theirs.Nonce, ours.Nonce))
		switch {
		case err != nil:
			return refused(reasonAuth, "authentication failed for %s: it closed the connection after our proof (it does not know our secret (--secret-file), or is not called %s): %v", s.who(), s.dialed, err)
		case !ok:
			return refused(reasonAuth, "authentication failed for %s: it does not know our secret (--secret-file)", s.who())
		}
	} else {
		name := s.t.cfg.Hello.Name
		ok, err := readProof(s.c, authMAC(secret, sideDialer, name, theirs.Nonce, ours.Nonce))
		switch {
		case err != nil:
			return refused(reasonHandshake, "%s: reading its proof: %v", s.who(), err)
		case !ok:
			return refused(reasonAuth, "authentication failed for %s: it does not know our secret (--secret-file), or does not call us %s", s.who(), name)
		}
		if err := writeProof(s.c, authMAC(secret, sideAcceptor, name, ours.Nonce, theirs.Nonce)); err != nil {
			return refused(reasonHandshake, "%s: %v", s.who(), err)
		}
	}
	s.trusted = true
	return nil
}

// hellos exchanges Hellos with a trusted peer and checks the peer's.
// Without a secret or TLS, the accepting side answers only a member that
// connects from that member's address.
func (s *shake) hellos(live []string, answer func(peer Hello) []string) (Hello, error) {
	ours := s.t.cfg.Hello
	var peer Hello
	var err error
	if s.dialed != "" {
		ours.Live = live
		if err = writeHello(s.c, ours); err == nil {
			peer, err = readHello(s.c)
		}
	} else {
		peer, err = readHello(s.c)
		if err == nil && s.t.filter != nil && !s.t.filter.from(s.ctx, s.c, peer.Name) {
			return peer, refused(reasonAddress, "%s says it is %s, but that is no member connecting from its own address", s.who(), peer.Name)
		}
		if err == nil {
			ours.Live = answer(peer)
			err = writeHello(s.c, ours)
		}
	}
	switch {
	case err != nil:
		return peer, refused(reasonHandshake, "%s: %v", s.who(), err)
	case s.dialed != "" && peer.Name != s.dialed:
		return peer, &MismatchError{fmt.Sprintf("peer %s calls itself %s", s.dialed, peer.Name)}
	}
	return peer, ours.check(peer)
}
