package fs

import (
	"bytes"
	"context"
	"fmt"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// ownersNode is `.owners`: which node owns which pages, as this node knows
// it, one line per run of pages with the same owner.
type ownersNode struct {
	fusefs.Inode
	fs *FS
}

var (
	_ = (fusefs.NodeGetattrer)((*ownersNode)(nil))
	_ = (fusefs.NodeOpener)((*ownersNode)(nil))
	_ = (fusefs.NodeReader)((*ownersNode)(nil))
)

// Getattr reports size 0: the content is made at open, and direct I/O lets
// cat read all of it anyway.
func (o *ownersNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	out.Nlink = 1
	out.SetTimes(nil, &started, &started)
	return 0
}

// Open takes a snapshot, so one reader sees one consistent table, and opens
// it with direct I/O so every open sees a fresh one.
func (o *ownersNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EACCES
	}
	return &snapshot{data: o.fs.ownersText()}, fuse.FOPEN_DIRECT_IO, 0
}

func (o *ownersNode) Read(ctx context.Context, fh fusefs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	data := fh.(*snapshot).data
	if off >= int64(len(data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(data[off:min(int64(len(data)), off+int64(len(dest)))]), 0
}

// snapshot is the content of a special file as it was at open.
type snapshot struct{ data []byte }

func (f *FS) ownersText() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# dsmfs owners: pages=%d page_size=%d nodes=%d self=%d\n",
		f.cfg.Pages, f.cfg.PageSize, len(f.cfg.Members), f.cfg.Self)
	for _, r := range f.node.Owners() {
		fmt.Fprintf(&b, "%d-%d %d %s\n", r.First, r.Last, r.Owner, f.cfg.Members[r.Owner])
	}
	return b.Bytes()
}
