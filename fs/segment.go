package fs

import (
	"context"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// segmentNode is the file `segment`: the shared memory itself.
type segmentNode struct {
	fusefs.Inode
	fs *FS
}

var (
	_ = (fusefs.NodeGetattrer)((*segmentNode)(nil))
	_ = (fusefs.NodeSetattrer)((*segmentNode)(nil))
	_ = (fusefs.NodeOpener)((*segmentNode)(nil))
	_ = (fusefs.NodeReader)((*segmentNode)(nil))
	_ = (fusefs.NodeWriter)((*segmentNode)(nil))
	_ = (fusefs.NodeFsyncer)((*segmentNode)(nil))
	_ = (fusefs.NodeFlusher)((*segmentNode)(nil))
)

var started = time.Now()

func (s *segmentNode) size() int64 { return int64(s.fs.cfg.Pages) * int64(s.fs.cfg.PageSize) }

func (s *segmentNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	mode := uint32(0o600)
	if s.fs.cfg.AllowOther {
		mode = 0o666
	}
	out.Mode = syscall.S_IFREG | mode
	out.Size = uint64(s.size())
	out.Blocks = out.Size / 512
	out.Blksize = uint32(s.fs.cfg.PageSize)
	out.Nlink = 1
	out.SetTimes(nil, &started, &started)
	return 0
}

// Setattr refuses size changes: the segment's size is fixed cluster-wide
// (fixedTree refuses changes of mode, owner and times before they get here).
func (s *segmentNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok && int64(size) != s.size() {
		return syscall.EPERM
	}
	return s.Getattr(ctx, fh, out)
}

func (s *segmentNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EPERM
	}
	if errno := s.fs.waitReady(ctx); errno != 0 {
		return nil, 0, errno
	}
	// Keep the cache across opens: a page cached here is owned here, and
	// only an invalidation may drop it.
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

// Read serves a page fault (or a read(2)): the bytes come from this node's
// store, after the page migrates here if another node owns it. A signal to
// the faulting program does not end the wait (see owner.Node.ReadAt): an
// error here would be its SIGBUS.
func (s *segmentNode) Read(ctx context.Context, fh fusefs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := int(min(int64(len(dest)), max(s.size()-off, 0)))
	if err := s.fs.node.ReadAt(ctx, dest[:n], off); err != nil {
		return nil, s.fs.errno("read", off, err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Write takes dirty data the kernel writes back (or a write(2)) into this
// node's store, after the page migrates here if another node owns it.
func (s *segmentNode) Write(ctx context.Context, fh fusefs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	if off+int64(len(data)) > s.size() {
		return 0, syscall.EFBIG
	}
	n, err := s.fs.node.WriteAt(ctx, data, off)
	if err != nil {
		return 0, s.fs.errno("write", off, err)
	}
	return uint32(n), 0
}

// Fsync (and msync with MS_SYNC) comes after the kernel wrote the dirty
// pages back; with --replicas it returns once copies of them are kept on
// the peers, so that they survive this node.
func (s *segmentNode) Fsync(ctx context.Context, fh fusefs.FileHandle, flags uint32) syscall.Errno {
	if err := s.fs.node.Sync(); err != nil {
		return s.fs.errno("fsync", 0, err)
	}
	return 0
}

func (s *segmentNode) Flush(ctx context.Context, fh fusefs.FileHandle) syscall.Errno { return 0 }
