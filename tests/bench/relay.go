package bench

import (
	"context"
	"io"
	"net"
	"sync"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// relayNode is the floor mount's relay file (see FloorFS): a floor file
// whose every READ is one round trip to the echo server first.
type relayNode struct {
	floorNode
	echo string

	mu   sync.Mutex // guards conn: one round trip at a time, as one fault
	conn net.Conn   // dialed at the first READ
}

var _ = (fusefs.NodeReader)((*relayNode)(nil))

func (r *relayNode) Read(ctx context.Context, fh fusefs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if err := r.roundTrip(); err != nil {
		return nil, syscall.EIO
	}
	return r.floorNode.Read(ctx, fh, dest, off)
}

// roundTrip sends a request the size of a page request and reads a reply
// the size of a page.
func (r *relayNode) roundTrip() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil {
		c, err := net.Dial("tcp", r.echo)
		if err != nil {
			return err
		}
		c.(*net.TCPConn).SetNoDelay(true)
		r.conn = c
	}
	var req [rttRequest]byte
	var reply [rttReply]byte
	if _, err := r.conn.Write(req[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(r.conn, reply[:])
	return err
}
