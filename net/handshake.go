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
const ProtocolVersion = 3

// Hello is what each side of a new connection says first. Two nodes work
// together only if they agree on everything in it but Name, Live and Nonce.
type Hello struct {
	Version  int      `json:"version"`
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
	// Auth says this node requires the shared secret; Nonce is fresh for
	// each connection, for the proof (see auth.go).
	Auth  bool   `json:"auth"`
	Nonce []byte `json:"nonce,omitempty"`
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
	case peer.Auth != h.Auth && h.Auth:
		return &MismatchError{fmt.Sprintf("authentication failed for peer %s: it has no --secret-file, we require one", peer.Name)}
	case peer.Auth != h.Auth:
		return &MismatchError{fmt.Sprintf("authentication failed for peer %s: it requires a --secret-file, we have none", peer.Name)}
	case peer.Version != h.Version:
		return bad("speaks protocol version %d, we speak %d", peer.Version, h.Version)
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

func writeHello(w io.Writer, h Hello) error {
	payload, err := json.Marshal(h)
	if err != nil {
		return err
	}
	frame := make([]byte, headerSize, headerSize+len(payload))
	putHeader(frame, header{typ: frameHello, length: uint32(len(payload))})
	_, err = w.Write(append(frame[:helloHeaderSize], payload...))
	return err
}

func readHello(r io.Reader) (Hello, error) {
	var hdr [headerSize]byte // its epoch and version stay zero
	if _, err := io.ReadFull(r, hdr[:helloHeaderSize]); err != nil {
		return Hello{}, fmt.Errorf("reading hello: %w", err)
	}
	h := parseHeader(hdr[:])
	if h.typ != frameHello || h.length > maxHelloSize {
		return Hello{}, fmt.Errorf("not a dsmfs peer (first frame type %#x, length %d)", h.typ, h.length)
	}
	payload := make([]byte, h.length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return Hello{}, fmt.Errorf("reading hello: %w", err)
	}
	var hello Hello
	if err := json.Unmarshal(payload, &hello); err != nil {
		return Hello{}, fmt.Errorf("not a dsmfs peer (bad hello: %v)", err)
	}
	return hello, nil
}
