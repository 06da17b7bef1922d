package fs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// preloadChunk is how much one FUSE_NOTIFY_STORE pushes.
const preloadChunk = 1 << 20

// preload puts the pages this node owns into the kernel's page cache, so
// that a program's first touch of them is a minor fault at memory speed
// instead of a FUSE READ. It pushes zeros: the segment is new, and the
// store's pages stay unbacked, so the bytes live only in the page cache
// until programs write them back.
//
// A push overwrites whatever the kernel caches, so no program may use the
// segment meanwhile (one could have written to a page about to be
// overwritten) and ownership must not change: Serve calls it before opens
// are let through and before the transport delivers peers' requests.
func (f *FS) preload() error {
	// The kernel takes notifications only for inodes it has looked up.
	if _, err := os.Stat(filepath.Join(f.cfg.Mountpoint, "segment")); err != nil {
		return err
	}
	seg := f.segment.Load()
	zeros := make([]byte, preloadChunk)
	unit := int64(f.blockBytes())
	for _, r := range f.node.Owned() {
		for off, end := int64(r.First)*unit, int64(r.Last+1)*unit; off < end; off += preloadChunk {
			n := min(preloadChunk, end-off)
			if errno := seg.WriteCache(off, zeros[:n]); errno != 0 {
				return fmt.Errorf("storing pages at %d: %w", off, errno)
			}
		}
	}
	return nil
}

// waitReady holds opens until Serve has finished preloading; they fail
// with ENOTCONN if the mount goes before (the node never joined).
func (f *FS) waitReady(ctx context.Context) syscall.Errno {
	select {
	case <-f.ready:
	case <-ctx.Done():
		return syscall.EINTR
	}
	if f.node == nil {
		return syscall.ENOTCONN
	}
	return 0
}
