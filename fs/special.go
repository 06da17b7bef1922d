package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// specialNode is a read-only file whose content is made when it is opened,
// such as `.owners`.
type specialNode struct {
	fusefs.Inode
	fs      *FS
	content func(ctx context.Context) []byte
}

var (
	_ = (fusefs.NodeGetattrer)((*specialNode)(nil))
	_ = (fusefs.NodeSetattrer)((*specialNode)(nil))
	_ = (fusefs.NodeOpener)((*specialNode)(nil))
	_ = (fusefs.NodeReader)((*specialNode)(nil))
)

// Getattr reports size 0: the content is made at open, and direct I/O lets
// cat read all of it anyway.
func (s *specialNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	out.Nlink = 1
	out.SetTimes(nil, &started, &started)
	return 0
}

// Setattr refuses truncation: the content is the daemon's to make (fixedTree
// refuses every other change).
func (s *specialNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EPERM
}

// Open takes a snapshot, so one reader sees one consistent text, and opens
// it with direct I/O so every open sees a fresh one. Until the node has
// joined there is nothing to say: opens wait, as the segment's do.
func (s *specialNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EACCES
	}
	if errno := s.fs.waitReady(ctx); errno != 0 {
		return nil, 0, errno
	}
	return &snapshot{data: s.content(ctx)}, fuse.FOPEN_DIRECT_IO, 0
}

func (s *specialNode) Read(ctx context.Context, fh fusefs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	data := fh.(*snapshot).data
	if off >= int64(len(data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(data[off:min(int64(len(data)), off+int64(len(dest)))]), 0
}

// snapshot is the content of a special file as it was at open.
type snapshot struct{ data []byte }
