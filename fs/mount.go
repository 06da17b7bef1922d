package fs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/dsmfs/dsmfs/owner"
	"github.com/dsmfs/dsmfs/owner/locks"
)

// Config describes the mount.
type Config struct {
	Mountpoint string
	Pages      int // kernel pages in the segment
	PageSize   int // kernel page size
	// Block is how many consecutive pages migrate together: the
	// protocol's unit, so the node's PageID counts blocks.
	Block int
	// AllowOther lets other users open the segment (mode 0666 instead of
	// 0600); it needs user_allow_other in /etc/fuse.conf unless root.
	AllowOther bool
	// Members are the node names, by NodeID, for `.owners`.
	Members []string
	Self    owner.NodeID
	Logger  *slog.Logger
}

// FS is a mounted (or about to be mounted) dsmfs file system.
type FS struct {
	cfg    Config
	log    *slog.Logger
	node   *owner.Node
	locks  *locks.Service // serves flock and fcntl on the segment cluster-wide
	server *fuse.Server
	// segment and readOnly are the two files' inodes, set once the root
	// is added.
	segment, readOnly atomic.Pointer[fusefs.Inode]
	lockers           lockers
	// ready is closed once files may be opened: by Serve, or by an
	// Unmount before it, when node stays nil.
	ready chan struct{}
	open  sync.Once // closes ready
	// unmounted is set once the kernel has let go of the mount: it
	// caches nothing of the segment any more.
	unmounted atomic.Bool
}

// New returns the file system for cfg; it is mounted by Mount. It is the
// owner.Kernel of the node that Serve gets.
func New(cfg Config) *FS {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &FS{cfg: cfg, log: log, ready: make(chan struct{})}
}

// attrTimeout is long because nothing about the files changes behind the
// kernel's back; the page cache is managed explicitly instead.
const attrTimeout = time.Hour

// Mount mounts the file system; it serves nothing until Serve: opens of
// its files wait meanwhile.
//
// The node mounts before it joins the cluster, and never joins if it
// cannot mount. Check's probes give clear messages for the usual
// failures, but only mounting proves that the kernel, the FUSE device and
// fusermount3 take this mount point; and a node that joined and then
// failed to mount would leave its peers with a member that vanished, its
// pages dead. So the mount comes first, holds programs' opens while the
// node joins, and goes again (Unmount) if the join fails.
func (f *FS) Mount() error {
	timeout := attrTimeout
	root := &rootNode{fs: f}
	opts := &fusefs.Options{
		MountOptions: fuse.MountOptions{
			FsName:     "dsmfs",
			Name:       "dsmfs",
			AllowOther: f.cfg.AllowOther,
			// Readahead and requests no larger than the migration
			// unit: a fault asks for the block it needs, and a
			// request spans at most two blocks (see Node.ReadAt).
			MaxReadAhead: f.blockBytes(),
			MaxWrite:     f.blockBytes(),
			// Only the daemon decides when cached pages go.
			ExplicitDataCacheControl: true,
			DirectMount:              true,
			DisableXAttrs:            true,
			EnableLocks:              true,
		},
		EntryTimeout: &timeout,
		AttrTimeout:  &timeout,
		UID:          uint32(os.Getuid()),
		GID:          uint32(os.Getgid()),
	}
	raw := &lockReleaser{RawFileSystem: &fixedTree{fusefs.NewNodeFS(root, opts)}, fs: f}
	server, err := fuse.NewServer(raw, f.cfg.Mountpoint, &opts.MountOptions)
	if err != nil {
		return fmt.Errorf("mounting %s: %w", f.cfg.Mountpoint, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		server.Unmount()
		return fmt.Errorf("mounting %s: %w", f.cfg.Mountpoint, err)
	}
	f.server = server
	f.tuneWriteback()
	return nil
}

// Serve starts serving page accesses through node and file locks through
// lockService, once it has preloaded the pages node owns. Start delivering
// peers' messages to node only after it returns (see preload).
func (f *FS) Serve(node *owner.Node, lockService *locks.Service) {
	f.node, f.locks = node, lockService
	if err := f.preload(); err != nil {
		// Still correct: owned pages are then read on first touch.
		f.log.Warn("cannot preload owned pages into the page cache", "err", err)
	}
	f.open.Do(func() { close(f.ready) })
}

// Wait blocks until the file system is unmounted.
func (f *FS) Wait() {
	f.server.Wait()
	f.unmounted.Store(true)
}

// Unmount unmounts, lazily if programs still use the mount, so that the
// mount never outlives the daemon. Before Serve, the opens waiting for it
// fail: the node never joined.
func (f *FS) Unmount() error {
	f.open.Do(func() { close(f.ready) })
	err := f.server.Unmount()
	if err == nil {
		return nil
	}
	f.log.Warn("mount busy, detaching it", "err", err)
	if err := unix.Unmount(f.cfg.Mountpoint, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting %s: %w", f.cfg.Mountpoint, err)
	}
	return nil
}

// blockBytes is the size of a block, the protocol's page.
func (f *FS) blockBytes() int { return f.cfg.PageSize * f.cfg.Block }

// Invalidate implements owner.Kernel: the kernel writes block p back if it
// is dirty, then drops it from the page cache and from every mapping.
func (f *FS) Invalidate(p owner.PageID) error {
	seg := f.segment.Load()
	if seg == nil || f.unmounted.Load() {
		return nil // nothing cached: not looked up yet, or unmounted
	}
	off := int64(p) * int64(f.blockBytes())
	switch errno := seg.NotifyContent(off, int64(f.blockBytes())); errno {
	case 0, syscall.ENOENT:
		// ENOENT: the kernel has not looked the file up, so it caches
		// nothing of it.
		return nil
	default:
		return fmt.Errorf("invalidating block %d: %w", p, errno)
	}
}

// InvalidateAll takes every page of the segment from local programs at
// once, through both files (a length of 0 reaches the end of the file).
func (f *FS) InvalidateAll() error {
	for _, ino := range []*fusefs.Inode{f.segment.Load(), f.readOnly.Load()} {
		if ino == nil || f.unmounted.Load() {
			continue
		}
		if errno := ino.NotifyContent(0, 0); errno != 0 && errno != syscall.ENOENT {
			return fmt.Errorf("invalidating the segment: %w", errno)
		}
	}
	return nil
}

// rootNode is the mount's root directory.
type rootNode struct {
	fusefs.Inode
	fs *FS
}

var _ = (fusefs.NodeOnAdder)((*rootNode)(nil))

func (r *rootNode) OnAdd(ctx context.Context) {
	seg := r.NewPersistentInode(ctx, &segmentNode{fs: r.fs}, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: 2})
	r.AddChild("segment", seg, false)
	r.fs.segment.Store(seg)
	ro := r.NewPersistentInode(ctx, &readOnlyNode{fs: r.fs}, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: 6})
	r.AddChild("segment.ro", ro, false)
	r.fs.readOnly.Store(ro)
	for i, special := range []struct {
		name    string
		content func(context.Context) []byte
	}{
		{".owners", r.fs.ownersText},
		{".cluster-owners", r.fs.clusterOwnersText},
		{".stats", r.fs.statsText},
	} {
		ino := r.NewPersistentInode(ctx, &specialNode{fs: r.fs, content: special.content}, fusefs.StableAttr{Mode: syscall.S_IFREG, Ino: uint64(3 + i)})
		r.AddChild(special.name, ino, false)
	}
}
