package net

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Peers that share a secret (--secret-file) prove it to each other before
// either says anything about the cluster: each greeting carries a fresh
// random nonce, then the dialer sends an HMAC-SHA256 under the secret of
// both nonces, and the accepting side, if that is right, its own. The
// secret never crosses the wire, and a recorded proof is worthless for
// another connection. Each proof names its side and the accepting node (the
// one name both sides know before the Hellos: the dialer dialed it), so
// that a node's proof, made as a dialer or to another node, cannot be
// passed back to it by someone who relays two connections.

// frameAuth carries a handshake proof.
const frameAuth = 0x41

const nonceSize = 32

func newNonce() ([]byte, error) {
	n := make([]byte, nonceSize)
	_, err := rand.Read(n)
	return n, err
}

// authMAC is the proof of the side side of a connection to the node
// called acceptor: the secret, bound to the connection by both nonces.
func authMAC(secret []byte, side, acceptor string, own, peer []byte) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "dsmfs auth v2\x00%s\x00%s\x00", side, acceptor)
	m.Write(own)
	m.Write(peer)
	return m.Sum(nil)
}

func writeProof(w io.Writer, mac []byte) error {
	frame := make([]byte, headerSize+sha256.Size)
	putHeader(frame, header{typ: frameAuth, length: sha256.Size})
	copy(frame[headerSize:], mac)
	_, err := w.Write(frame)
	return err
}

// readProof reads a proof and reports whether it is want.
func readProof(r io.Reader, want []byte) (bool, error) {
	frame := make([]byte, headerSize+sha256.Size)
	if _, err := io.ReadFull(r, frame); err != nil {
		return false, err
	}
	h := parseHeader(frame)
	return h.typ == frameAuth && h.length == sha256.Size && hmac.Equal(frame[headerSize:], want), nil
}

// NewSecret is a fresh secret for --secret-file: 32 random bytes, in
// base64.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails
	return base64.StdEncoding.EncodeToString(b)
}

// Credentials are what proves to the peers that this node is a member:
// the secret of --secret-file and the TLS of --tls-cert, --tls-key and
// --tls-ca, each nil when not given.
func Credentials(secretFile, certFile, keyFile, caFile string, log *slog.Logger) ([]byte, *tls.Config, error) {
	secret, err := ReadSecret(secretFile, log)
	if err != nil {
		return nil, nil, err
	}
	config, err := TLSConfig(certFile, keyFile, caFile)
	return secret, config, err
}

// ReadSecret reads --secret-file: the whole file, without surrounding
// white space, is the secret. It warns if others can read the file.
func ReadSecret(path string, log *slog.Logger) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		log.Warn("the secret file can be read by others; chmod 600 it", "path", path)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(text)))
	if len(secret) == 0 {
		return nil, fmt.Errorf("--secret-file %s is empty", path)
	}
	return secret, nil
}
