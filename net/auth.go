package net

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Peers that share a secret (--secret-file) prove it to each other in the
// handshake: each Hello carries a fresh random nonce, and each side then
// sends an HMAC-SHA256 under the secret of both names and both nonces, in
// its own direction. The secret never crosses the wire, a recorded answer
// is worthless for another connection, and one side's answer cannot be
// reflected back as the other's.

// frameAuth carries a handshake MAC.
const frameAuth = 0x41

const nonceSize = 32

func newNonce() ([]byte, error) {
	n := make([]byte, nonceSize)
	_, err := rand.Read(n)
	return n, err
}

// authMAC is what node from proves to node to: the secret, bound to this
// connection by both nonces.
func authMAC(secret []byte, from, to string, fromNonce, toNonce []byte) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "dsmfs auth v1\x00%s\x00%s\x00", from, to)
	m.Write(fromNonce)
	m.Write(toNonce)
	return m.Sum(nil)
}

// authenticate exchanges MACs over an established Hello pair and checks the
// peer's. Both Hellos said Auth, so both sides run it.
func authenticate(rw io.ReadWriter, secret []byte, ours, peer Hello) error {
	frame := make([]byte, headerSize+sha256.Size)
	putHeader(frame, header{typ: frameAuth, length: sha256.Size})
	copy(frame[headerSize:], authMAC(secret, ours.Name, peer.Name, ours.Nonce, peer.Nonce))
	if _, err := rw.Write(frame); err != nil {
		return err
	}
	if _, err := io.ReadFull(rw, frame); err != nil {
		return fmt.Errorf("reading the peer's proof: %w", err)
	}
	h := parseHeader(frame)
	want := authMAC(secret, peer.Name, ours.Name, peer.Nonce, ours.Nonce)
	if h.typ != frameAuth || h.length != sha256.Size || !hmac.Equal(frame[headerSize:], want) {
		return &MismatchError{fmt.Sprintf("authentication failed for peer %s: it does not know our secret (--secret-file)", peer.Name)}
	}
	return nil
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
