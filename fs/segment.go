package fs

import (
	"context"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/dsmfs/dsmfs/owner"
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

// Setattr refuses size changes: the segment's size is fixed cluster-wide.
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
	// Keep the cache across opens: a page cached here is owned here, and
	// only an invalidation may drop it.
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

// Read serves a page fault (or a read(2)): each page comes from this node's
// store, after migrating here if another node owns it.
func (s *segmentNode) Read(ctx context.Context, fh fusefs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := int(min(int64(len(dest)), max(s.size()-off, 0)))
	var page []byte // only for a request that covers part of a page
	err := s.forPages(off, n, func(p owner.PageID, pageOff, lo, hi int) error {
		if pageOff == 0 && hi-lo == s.fs.cfg.PageSize {
			return s.fs.node.Read(ctx, p, dest[lo:hi])
		}
		if page == nil {
			page = make([]byte, s.fs.cfg.PageSize)
		}
		if err := s.fs.node.Read(ctx, p, page); err != nil {
			return err
		}
		copy(dest[lo:hi], page[pageOff:])
		return nil
	})
	if err != nil {
		s.fs.log.Warn("read failed", "offset", off, "err", err)
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Write takes dirty data the kernel writes back (or a write(2)) into this
// node's store, after migrating the page here if another node owns it.
func (s *segmentNode) Write(ctx context.Context, fh fusefs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	if off+int64(len(data)) > s.size() {
		return 0, syscall.EFBIG
	}
	err := s.forPages(off, len(data), func(p owner.PageID, pageOff, lo, hi int) error {
		return s.fs.node.Write(ctx, p, pageOff, data[lo:hi])
	})
	if err != nil {
		s.fs.log.Warn("write failed", "offset", off, "err", err)
		return 0, errno(err)
	}
	return uint32(len(data)), 0
}

// forPages calls fn for each page that [off, off+n) touches, with the offset
// in the page and the request's byte range [lo, hi) that falls in it. With
// one-page requests (see Mount) it is one call.
func (s *segmentNode) forPages(off int64, n int, fn func(p owner.PageID, pageOff, lo, hi int) error) error {
	ps := int64(s.fs.cfg.PageSize)
	for lo := 0; lo < n; {
		at := off + int64(lo)
		pageOff := int(at % ps)
		hi := min(n, lo+int(ps)-pageOff)
		if err := fn(owner.PageID(at/ps), pageOff, lo, hi); err != nil {
			return err
		}
		lo = hi
	}
	return nil
}

// Fsync has nothing to do: the daemon's store is the authoritative copy
// once the kernel has written dirty pages back, which it did before this.
func (s *segmentNode) Fsync(ctx context.Context, fh fusefs.FileHandle, flags uint32) syscall.Errno {
	return 0
}

func (s *segmentNode) Flush(ctx context.Context, fh fusefs.FileHandle) syscall.Errno { return 0 }
