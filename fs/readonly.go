package fs

import (
	"context"
	"fmt"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/dsmfs/dsmfs/owner"
)

// readOnlyNode is the file `segment.ro`: the segment again, for programs
// that only read it. Its faults are served by read copies, which any
// number of nodes may hold of a page at once (owner/readcopies.go). It is
// a file of its own because the kernel's page cache belongs to the inode:
// a page that an O_RDONLY handle of `segment` brings in is the very page
// a writable mapping of `segment` on this node writes to without telling
// the daemon, so `segment` can hand out nothing but exclusive pages.
type readOnlyNode struct {
	fusefs.Inode
	fs *FS
}

var (
	_ = (fusefs.NodeGetattrer)((*readOnlyNode)(nil))
	_ = (fusefs.NodeSetattrer)((*readOnlyNode)(nil))
	_ = (fusefs.NodeOpener)((*readOnlyNode)(nil))
	_ = (fusefs.NodeReader)((*readOnlyNode)(nil))
)

func (r *readOnlyNode) size() int64 { return int64(r.fs.cfg.Pages) * int64(r.fs.cfg.PageSize) }

func (r *readOnlyNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	mode := uint32(0o400)
	if r.fs.cfg.AllowOther {
		mode = 0o444
	}
	out.Mode = syscall.S_IFREG | mode
	out.Size = uint64(r.size())
	out.Blocks = out.Size / 512
	out.Blksize = uint32(r.fs.cfg.PageSize)
	out.Nlink = 1
	out.SetTimes(nil, &started, &started)
	return 0
}

// Setattr refuses every change: the file is the segment, read-only.
func (r *readOnlyNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}

// Open refuses anything but reading, root's opens included (the mode alone
// would not stop root): writes through this file would bypass the
// protocol.
func (r *readOnlyNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EACCES
	}
	if errno := r.fs.waitReady(ctx); errno != 0 {
		return nil, 0, errno
	}
	// Keep the cache across opens: a page cached here is a read copy, and
	// only a revocation may drop it.
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

// Read serves a fault through segment.ro (or a read(2)): from a read copy
// of the page, fetched from its owner if none is here.
func (r *readOnlyNode) Read(ctx context.Context, fh fusefs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := int(min(int64(len(dest)), max(r.size()-off, 0)))
	if err := r.fs.node.ReadCopyAt(ctx, dest[:n], off); err != nil {
		return nil, r.fs.errno("read", off, err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// InvalidateRead implements owner.Kernel: block p leaves every mapping of
// segment.ro and its page cache (a read copy holds nothing dirty).
func (f *FS) InvalidateRead(p owner.PageID) error {
	ro := f.readOnly.Load()
	if ro == nil || f.unmounted.Load() {
		return nil
	}
	off := int64(p) * int64(f.blockBytes())
	switch errno := ro.NotifyContent(off, int64(f.blockBytes())); errno {
	case 0, syscall.ENOENT:
		return nil
	default:
		return fmt.Errorf("invalidating read copy of block %d: %w", p, errno)
	}
}
