package net

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dsmfs/dsmfs/owner"
)

// ProtocolVersion changes whenever the wire format or the protocol does.
// Version 4 proves the secret before anything about the cluster is said;
// version 5 sends a page of zeros as a header alone.
const ProtocolVersion = 5

// A handshake, the dialer speaking first at each step:
//
//  1. With TLS, the TLS handshake: each side presents a certificate the
//     cluster's CA signed.
//  2. Greetings: the protocol version, whether a secret is required, and
//     a fresh nonce; nothing about the cluster. Peers of different versions
//     or of different minds about the secret stop here, each naming the
//     other's version or mind.
//  3. With a secret, the proofs (auth.go): the dialer's first, and the
//     accepting side answers with its own only if the dialer's is right.
//  4. Hellos: the cluster as each side sees it, which must agree.
//
// The accepting side speaks at each step only after the dialer, so a
// connection that sends nothing, or garbage, learns nothing. Without a
// secret or TLS, it first checks the address the connection comes from
// (filter.go), and sends its Hello only to the member that connects from
// that member's address.

// greeting is the first frame each side sends. It is a Hello frame whose
// JSON carries the fields in which every version of the protocol put the
// version and the secret's nonce, so that peers of any version refuse
// each other by a MismatchError that names both versions.
type greeting struct {
	Version int `json:"version"`
	// Auth says this node requires the shared secret; Nonce is fresh for
	// each connection, for the proof (see auth.go).
	Auth  bool   `json:"auth"`
	Nonce []byte `json:"nonce,omitempty"`
}

// Hello is what each side says once it trusts the other. Two nodes work
// together only if they agree on everything in it but Name and Live.
type Hello struct {
	Name     string   `json:"name"`
	PageSize int      `json:"page_size"`
	Pages    int      `json:"pages"`
	Block    int      `json:"block"`    // pages that migrate together
	Replicas int      `json:"replicas"` // copies kept of each page
	Members  []string `json:"members"`
	// Live is empty from a process that has not started yet (in Join).
	// From one that has, it is the members alive in its view, itself
	// included, and the peer spoken to if and only if that peer, a
	// restarted member, must wait to rejoin (see TCP.acceptLateComers).
	Live []string `json:"live,omitempty"`
}

// unit is the bytes of one protocol page, a block of pages.
func (h Hello) unit() int { return h.PageSize * h.Block }

// dims is the cluster as the payload sizes depend on it.
func (h Hello) dims() owner.Dims {
	return owner.Dims{Pages: h.Pages / h.Block, PageSize: h.unit(), Nodes: len(h.Members)}
}

// MismatchError is a peer that disagrees with us about the cluster.
type MismatchError struct{ msg string }

func (e *MismatchError) Error() string { return e.msg }

// check compares the peer's Hello with ours.
func (h Hello) check(peer Hello) error {
	bad := func(format string, args ...any) error {
		return &MismatchError{fmt.Sprintf("peer %s "+format, append([]any{peer.Name}, args...)...)}
	}
	switch {
	case peer.PageSize != h.PageSize:
		return bad("has page size %d, we have %d", peer.PageSize, h.PageSize)
	case peer.Pages != h.Pages:
		return bad("has %d pages, we have %d", peer.Pages, h.Pages)
	case peer.Block != h.Block:
		return bad("migrates blocks of %d pages, we migrate %d", peer.Block, h.Block)
	case peer.Replicas != h.Replicas:
		return bad("keeps %d copies of each page (--replicas), we keep %d", peer.Replicas, h.Replicas)
	case !slices.Equal(peer.Members, h.Members):
		return bad("has members %s, we have %s%s%s", list(peer.Members), list(h.Members),
			only("it", peer.Members, h.Members), only("we", h.Members, peer.Members))
	}
	return nil
}

// check compares the peer's greeting with ours; who names the peer.
// disagree makes the error: a MismatchError only if the peer is trusted.
func (g greeting) check(peer greeting, who string, disagree func(reason, format string, args ...any) error) error {
	switch {
	case peer.Version != g.Version:
		return disagree(reasonHandshake, "%s speaks protocol version %d, we speak %d", who, peer.Version, g.Version)
	case peer.Auth != g.Auth && g.Auth:
		return disagree(reasonAuth, "authentication failed for %s: it has no --secret-file, we require one", who)
	case peer.Auth != g.Auth:
		return disagree(reasonAuth, "authentication failed for %s: it requires a --secret-file, we have none", who)
	case g.Auth && len(peer.Nonce) != nonceSize:
		return disagree(reasonAuth, "authentication failed for %s: no proper nonce", who)
	}
	return nil
}

// only names the members that who lists and other does not.
func only(who string, lists, other []string) string {
	var extra []string
	for _, n := range lists {
		if !slices.Contains(other, n) {
			extra = append(extra, n)
		}
	}
	if len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("; only %s list %s", who, list(extra))
}

func list(names []string) string { return "[" + strings.Join(names, " ") + "]" }

func writeHello(w io.Writer, h Hello) error { return writeJSON(w, h) }

func readHello(r io.Reader) (Hello, error) {
	var h Hello
	return h, readJSON(r, maxHelloSize, &h, "hello")
}

func writeGreeting(w io.Writer, g greeting) error { return writeJSON(w, g) }

func readGreeting(r io.Reader) (greeting, error) {
	var g greeting
	return g, readJSON(r, maxHelloSize, &g, "greeting")
}

// writeJSON writes v as the JSON payload of a Hello frame.
func writeJSON(w io.Writer, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return err
	}
	frame := make([]byte, headerSize, headerSize+len(payload))
	putHeader(frame, header{typ: frameHello, length: uint32(len(payload))})
	_, err = w.Write(append(frame[:helloHeaderSize], payload...))
	return err
}

// readJSON reads a Hello frame of at most max payload bytes into v.
func readJSON(r io.Reader, max uint32, v any, what string) error {
	var hdr [headerSize]byte // its epoch and version stay zero
	if _, err := io.ReadFull(r, hdr[:helloHeaderSize]); err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	h := parseHeader(hdr[:])
	if h.typ != frameHello || h.length > max {
		return fmt.Errorf("not a dsmfs peer (first frame type %#x, length %d)", h.typ, h.length)
	}
	payload := make([]byte, h.length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("not a dsmfs peer (bad %s: %v)", what, err)
	}
	return nil
}
