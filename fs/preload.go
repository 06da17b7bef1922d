package fs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// preloadChunk is how much one FUSE_NOTIFY_STORE pushes.
const preloadChunk = 1 << 20

// preloadMax bounds the preload, as does a quarter of the memory available
// at mount: pushed zeros take page cache before any program asked for a
// page, and pushing a large share takes long (1 GiB about a second here).
// Owned pages beyond it are read from the daemon on first touch, one FUSE
// READ each, and cost memory only once touched.
const preloadMax = 1 << 30

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
	budget := int64(preloadMax)
	avail, known := memAvailable()
	if known {
		budget = min(budget, avail/4)
	}
	var owned, stored int64
	for _, r := range f.node.Owned() {
		for off, end := int64(r.First)*unit, int64(r.Last+1)*unit; off < end; off += preloadChunk {
			n := min(preloadChunk, end-off)
			owned += n
			if stored+n > budget {
				continue
			}
			if errno := seg.WriteCache(off, zeros[:n]); errno != 0 {
				return fmt.Errorf("storing pages at %d: %w", off, errno)
			}
			stored += n
		}
	}
	if known && owned > avail {
		f.log.Warn("this node owns more of the segment than it has memory: programs that touch all of it will swap or be killed",
			"owned_mib", owned>>20, "available_mib", avail>>20)
	}
	if stored < owned {
		f.log.Info("preloaded only part of the owned pages; the rest are read on first touch",
			"preloaded_mib", stored>>20, "owned_mib", owned>>20)
	}
	return nil
}

// memAvailable is the kernel's estimate of the memory available for new
// work, from /proc/meminfo.
func memAvailable() (int64, bool) {
	file, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer file.Close()
	lines := bufio.NewScanner(file)
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "MemAvailable:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib << 10, err == nil
		}
	}
	return 0, false
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
