package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// floorPages is the size of the floor file: enough fresh pages for every
// round of the fault and invalidation floors.
const floorPages = 16384

// floorFile and relayFile are the names of the floor files in the floor
// mount: relayFile's READ makes one TCP round trip before it answers.
const (
	floorFile = "file"
	relayFile = "relay"
)

// floorCtl is the floor file system's control socket for a mount point: a
// sibling of the mount, since nothing but the file may live inside it.
func floorCtl(mountpoint string) string { return mountpoint + ".ctl" }

// FloorFS is `dsmfs bench-floorfs MOUNTPOINT ECHOADDR`: it serves one file of
// floorPages pages from memory (every page reads as the same zero page;
// writes are accepted and dropped) with the mount options dsmfs uses, so a
// fault on it costs what a dsmfs fault costs without the protocol. It prints
// "ready" once mounted and serves until ctx ends, then unmounts.
//
// Its second file, relayFile, is the composed floor of a migration: each
// READ first sends 16 bytes to the echo server at echo (another process,
// as the owner is) and waits for its 4 KiB answer, as the requester waits
// for the page, then answers. A fault on it wakes the same three processes
// in the same order as a clean migration does, with none of dsmfs's work.
//
// The invalidation floors are measured here, not in the worker: a worker
// caches a page, then sends its number on the unix socket floorCtl; a
// goroutine of this process (never a FUSE handler, which would deadlock
// with the write-back) times Inode.NotifyContent on that page alone and
// answers the nanoseconds, or -1 on failure. The socket's round trip is
// thus outside the measurement, which is exactly the call dsmfs's owner
// makes to take a page away: write-back of a dirty page (a FUSE WRITE served
// by this process meanwhile), drop, unmap.
func FloorFS(ctx context.Context, mountpoint, echo string, stdout io.Writer) error {
	ln, err := net.Listen("unix", floorCtl(mountpoint))
	if err != nil {
		return fmt.Errorf("floor control socket: %w", err)
	}
	defer ln.Close()
	timeout := time.Hour
	root := &floorRoot{relay: &relayNode{echo: echo}}
	server, err := fusefs.Mount(mountpoint, root, &fusefs.Options{
		MountOptions: fuse.MountOptions{
			FsName:                   "dsmfs-floor",
			Name:                     "dsmfs-floor",
			MaxReadAhead:             pageSize,
			MaxWrite:                 pageSize,
			ExplicitDataCacheControl: true,
			DirectMount:              true,
			DisableXAttrs:            true,
		},
		EntryTimeout: &timeout,
		AttrTimeout:  &timeout,
		UID:          uint32(os.Getuid()),
		GID:          uint32(os.Getgid()),
	})
	if err != nil {
		return fmt.Errorf("mounting %s: %w", mountpoint, err)
	}
	go serveInvalidations(ln, root.file)
	if _, err := fmt.Fprintln(stdout, "ready"); err != nil {
		unmountFloor(server, mountpoint)
		return err
	}
	select {
	case <-ctx.Done():
		return unmountFloor(server, mountpoint)
	case <-waitChan(server):
		return errors.New("floor file system unmounted from outside")
	}
}

func waitChan(s *fuse.Server) <-chan struct{} {
	done := make(chan struct{})
	go func() { s.Wait(); close(done) }()
	return done
}

// unmountFloor unmounts, lazily if a worker still maps the file.
func unmountFloor(s *fuse.Server, mountpoint string) error {
	if s.Unmount() == nil {
		return nil
	}
	return unix.Unmount(mountpoint, unix.MNT_DETACH)
}

// serveInvalidations answers invalidation requests until ln closes.
func serveInvalidations(ln net.Listener, file *fusefs.Inode) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var req [4]byte
			var resp [8]byte
			for {
				if _, err := io.ReadFull(c, req[:]); err != nil {
					return
				}
				off := int64(binary.LittleEndian.Uint32(req[:])) * pageSize
				t := time.Now()
				errno := file.NotifyContent(off, pageSize)
				ns := int64(time.Since(t))
				if errno != 0 {
					ns = -1
				}
				binary.LittleEndian.PutUint64(resp[:], uint64(ns))
				if _, err := c.Write(resp[:]); err != nil {
					return
				}
			}
		}()
	}
}

type floorRoot struct {
	fusefs.Inode
	file  *fusefs.Inode
	relay *relayNode
}

var _ = (fusefs.NodeOnAdder)((*floorRoot)(nil))

func (r *floorRoot) OnAdd(ctx context.Context) {
	r.file = r.NewPersistentInode(ctx, &floorNode{}, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: 2})
	r.AddChild(floorFile, r.file, false)
	r.AddChild(relayFile, r.NewPersistentInode(ctx, r.relay, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: 3}), false)
}

// floorNode is the floor file.
type floorNode struct {
	fusefs.Inode
}

var (
	_ = (fusefs.NodeGetattrer)((*floorNode)(nil))
	_ = (fusefs.NodeOpener)((*floorNode)(nil))
	_ = (fusefs.NodeReader)((*floorNode)(nil))
	_ = (fusefs.NodeWriter)((*floorNode)(nil))
)

// zeroPage is what every page of the floor file reads as.
var zeroPage [pageSize]byte

func (*floorNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o600
	out.Size = floorPages * pageSize
	out.Nlink = 1
	return 0
}

// Open keeps the cache across opens, as dsmfs does: only invalidations drop
// pages.
func (*floorNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

// Read answers at most one page: requests are one page (MaxReadAhead), and a
// longer read(2) may legally come back short.
func (*floorNode) Read(ctx context.Context, fh fusefs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := min(int64(len(dest)), max(floorPages*pageSize-off, 0), pageSize)
	return fuse.ReadResultData(zeroPage[:n]), 0
}

func (*floorNode) Write(ctx context.Context, fh fusefs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	return uint32(len(data)), 0
}
