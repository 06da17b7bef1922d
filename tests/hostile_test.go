package tests

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	dsmnet "github.com/dsmfs/dsmfs/net"
	"github.com/dsmfs/dsmfs/owner"
)

// hostile is a peer written by hand for the security tests: it dials a
// daemon, from this network namespace or another, and speaks as much of
// dsmfs's handshake and frames as a stranger or an impostor would.
type hostile struct {
	t *testing.T
	c net.Conn
}

// dialHostile connects to addr from the network namespace ns ("" for the
// test's own); the test's end closes it.
func dialHostile(t *testing.T, ns, addr string) *hostile {
	t.Helper()
	type dialed struct {
		c   net.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		if ns != "" {
			// Only this thread enters the namespace, and it comes
			// back before it is unlocked. (Left to die there, it
			// would take with it the daemons it started, whose
			// Pdeathsig is tied to the thread that forked them.)
			runtime.LockOSThread()
			home, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				ch <- dialed{err: err}
				return
			}
			defer home.Close()
			there, err := os.Open(filepath.Join("/run/netns", ns))
			if err != nil {
				ch <- dialed{err: err}
				return
			}
			defer there.Close()
			if err := unix.Setns(int(there.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- dialed{err: err}
				return
			}
			defer func() {
				if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
					runtime.UnlockOSThread()
				}
			}()
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		ch <- dialed{c, err}
	}()
	d := <-ch
	if d.err != nil {
		t.Fatalf("hostile peer: dialing %s from netns %q: %v", addr, ns, d.err)
	}
	h := &hostile{t: t, c: d.c}
	t.Cleanup(func() { h.c.Close() })
	return h
}

// sendJSON sends v as a greeting or Hello frame: a 12-byte header, then
// JSON.
func (h *hostile) sendJSON(v any) {
	h.t.Helper()
	payload, err := json.Marshal(v)
	if err != nil {
		h.t.Fatal(err)
	}
	frame := make([]byte, 12, 12+len(payload))
	frame[0] = 0x48
	binary.LittleEndian.PutUint32(frame[8:], uint32(len(payload)))
	h.send(append(frame, payload...))
}

// send writes b; a daemon may have closed the connection already, which
// what it was sent then shows.
func (h *hostile) send(b []byte) {
	if _, err := h.c.Write(b); err != nil {
		h.t.Logf("hostile peer: sending: %v", err)
	}
}

// greet sends a greeting of this version, requiring a secret or not.
func (h *hostile) greet(auth bool) {
	g := map[string]any{"version": dsmnet.ProtocolVersion, "auth": auth}
	if auth {
		g["nonce"] = make([]byte, 32)
	}
	h.sendJSON(g)
}

// proof sends a proof of a secret the hostile peer does not know.
func (h *hostile) proof() {
	frame := make([]byte, 24+32)
	frame[0] = 0x41
	binary.LittleEndian.PutUint32(frame[8:], 32)
	h.send(frame)
}

// hello sends a Hello that says the sender is member name.
func (h *hostile) hello(name string, pages, replicas int, members []string) {
	h.sendJSON(map[string]any{"name": name, "page_size": pageSize, "pages": pages, "block": 1, "replicas": replicas, "members": members})
}

// message sends a protocol frame with no payload.
func (h *hostile) message(typ owner.MsgType, requester owner.NodeID, page, epoch uint32) {
	frame := make([]byte, 24)
	frame[0] = byte(typ)
	binary.LittleEndian.PutUint16(frame[2:], uint16(requester))
	binary.LittleEndian.PutUint32(frame[4:], page)
	binary.LittleEndian.PutUint32(frame[12:], epoch)
	h.send(frame)
}

// readJSON reads a greeting or Hello frame.
func (h *hostile) readJSON() (map[string]any, error) {
	h.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [12]byte
	if _, err := io.ReadFull(h.c, hdr[:]); err != nil {
		return nil, err
	}
	payload := make([]byte, binary.LittleEndian.Uint32(hdr[8:]))
	if _, err := io.ReadFull(h.c, payload); err != nil {
		return nil, err
	}
	var v map[string]any
	return v, json.Unmarshal(payload, &v)
}

// readMessage reads a protocol frame: its type and page.
func (h *hostile) readMessage() (owner.MsgType, uint32, error) {
	h.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [24]byte
	if _, err := io.ReadFull(h.c, hdr[:]); err != nil {
		return 0, 0, err
	}
	if _, err := io.CopyN(io.Discard, h.c, int64(binary.LittleEndian.Uint32(hdr[8:]))); err != nil {
		return 0, 0, err
	}
	return owner.MsgType(hdr[0]), binary.LittleEndian.Uint32(hdr[4:]), nil
}

// readAll reads what the daemon sends until it closes the connection,
// which it must do within two handshake timeouts.
func (h *hostile) readAll() []byte {
	h.t.Helper()
	h.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(h.c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		h.t.Fatalf("hostile peer: the daemon did not close the connection: %v (got %q)", err, got)
	}
	return got
}
