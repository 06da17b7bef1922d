package net

import (
	"errors"
	"fmt"
	stdnet "net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dsmfs/dsmfs/owner"
)

// maxQueued bounds the bytes waiting to be written to one peer. A peer that
// falls this far behind does not read: its connection is closed, which
// reports it lost, rather than let it hold this node's memory.
const maxQueued = 256 << 20

// maxSpare is the largest write buffer a connection keeps for reuse.
const maxSpare = 1 << 20

// errQueueFull is why a connection to a peer that stopped reading closed.
var errQueueFull = errors.New("the peer reads nothing: more than 256 MiB wait to be sent to it")

// conn is the connection to one peer.
//
// Sending never waits for the peer. A frame is written at once, from the
// caller's goroutine, when nothing else is being written to the peer and
// the socket takes it: the common case, with no hand-off to another
// goroutine. What the socket does not take, and every frame sent while a
// write is under way, is queued in order for a writer goroutine, which
// waits for the peer up to the peer timeout. So a transport goroutine that
// answers one peer never stalls behind another that stopped reading, and
// two nodes sending to each other in bulk never wait for each other.
type conn struct {
	peer owner.NodeID
	name string
	c    stdnet.Conn
	// raw writes without waiting; nil for TLS, whose frames all go
	// through the writer.
	raw          syscall.RawConn
	writeTimeout time.Duration // for the writer; 0: no limit

	lastHeard atomic.Int64 // unix nanoseconds of the last bytes from the peer
	dead      atomic.Bool  // declared dead for silence, or disconnected

	mu      sync.Mutex
	writing bool   // guarded by mu: a sender or the writer is writing
	queued  []byte // guarded by mu: frames waiting for the writer, in order
	spare   []byte // guarded by mu: the writer's last buffer, for reuse
	frame   []byte // owned by whoever set writing: a frame built for a direct write
}

func newConn(id owner.NodeID, name string, c stdnet.Conn, unit int, writeTimeout time.Duration) *conn {
	cn := &conn{peer: id, name: name, c: c, writeTimeout: writeTimeout, frame: make([]byte, headerSize+unit)}
	if tc, ok := c.(*stdnet.TCPConn); ok {
		cn.raw, _ = tc.SyscallConn()
	}
	cn.lastHeard.Store(time.Now().UnixNano())
	return cn
}

// send writes m as one frame, or queues it behind the frames before it.
// It fails only if the connection is dead or the peer too far behind.
func (c *conn) send(m owner.Message) error {
	if c.dead.Load() {
		return fmt.Errorf("connection to node %d (%s) is dead", c.peer, c.name)
	}
	c.mu.Lock()
	if c.writing || len(c.queued) > 0 || c.raw == nil {
		return c.queueLocked(m) // unlocks
	}
	c.writing = true
	if need := headerSize + len(m.Data); need > len(c.frame) {
		c.frame = make([]byte, need) // an owners reply or recovery; rare
	}
	frame := encodeMessage(c.frame, m)
	c.mu.Unlock()
	n, err := c.writeNow(frame)
	c.mu.Lock()
	c.writing = false
	if err != nil {
		c.mu.Unlock()
		c.close()
		return err
	}
	if n < len(frame) {
		// The socket is full: the rest goes first, before what others
		// queued meanwhile.
		c.queued = append(append(c.takeSpareLocked(), frame[n:]...), c.queued...)
	}
	if len(c.queued) > 0 {
		c.startWriterLocked()
	}
	c.mu.Unlock()
	return nil
}

// queueLocked appends m's frame for the writer; mu held, and released.
func (c *conn) queueLocked(m owner.Message) error {
	if len(c.queued)+headerSize+len(m.Data) > maxQueued {
		c.mu.Unlock()
		c.close()
		return fmt.Errorf("node %d (%s): %w", c.peer, c.name, errQueueFull)
	}
	if c.queued == nil {
		c.queued = c.takeSpareLocked()
	}
	start := len(c.queued)
	c.queued = append(c.queued, make([]byte, headerSize+len(m.Data))...)
	encodeMessage(c.queued[start:], m)
	if !c.writing {
		c.startWriterLocked()
	}
	c.mu.Unlock()
	return nil
}

func (c *conn) takeSpareLocked() []byte {
	b := c.spare[:0]
	c.spare = nil
	return b
}

// writeNow writes what the socket takes of frame without waiting for it to
// drain, and returns how much that was.
func (c *conn) writeNow(frame []byte) (int, error) {
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for n < len(frame) {
			k, err := unix.Write(int(fd), frame[n:])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				if err != unix.EAGAIN {
					werr = err
				}
				return true // full, or broken: do not wait for the poller
			}
			n += k
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return n, err
}

// startWriterLocked has the writer drain the queue; mu held, nothing being
// written.
func (c *conn) startWriterLocked() {
	c.writing = true
	go c.writer()
}

// writer writes the queue until it is empty, waiting for the peer up to
// writeTimeout per batch: a peer that takes no bytes that long is stopped,
// and its connection is closed (which reports it lost).
func (c *conn) writer() {
	for {
		c.mu.Lock()
		batch := c.queued
		if len(batch) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.queued = nil
		c.mu.Unlock()
		if c.writeTimeout > 0 {
			c.c.SetWriteDeadline(time.Now().Add(c.writeTimeout))
		}
		_, err := c.c.Write(batch)
		c.c.SetWriteDeadline(time.Time{}) // a direct write must not find it passed
		c.mu.Lock()
		if cap(batch) <= maxSpare {
			c.spare = batch[:0]
		}
		c.mu.Unlock()
		if err != nil {
			c.close()
			c.mu.Lock()
			c.writing, c.queued = false, nil
			c.mu.Unlock()
			return
		}
	}
}

// heartbeat sends a heartbeat frame unless bytes are on their way to the
// peer already, which prove life as well.
func (c *conn) heartbeat() {
	c.mu.Lock()
	busy := c.writing || len(c.queued) > 0
	c.mu.Unlock()
	if !busy {
		c.send(owner.Message{Type: frameHeartbeat}) // a failure shows as silence or a closed connection
	}
}

// close ends the connection; its reader then reports the peer lost. A
// partial frame may be out: the stream is no longer framed.
func (c *conn) close() { c.c.Close() }
