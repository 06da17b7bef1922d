package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/dsmfs/dsmfs/owner"
	"github.com/dsmfs/dsmfs/owner/locks"
)

// errno is the one place where the node's errors become what programs see,
// and where failed accesses are logged. A failed page fault reaches the
// program that touched the mapping as SIGBUS.
func (f *FS) errno(op string, off int64, err error) syscall.Errno {
	switch {
	case errors.Is(err, owner.ErrNotHere):
		// A readahead over pages owned elsewhere: the kernel falls
		// back to reading the faulting page alone. Routine, not a
		// failure.
		f.log.Debug("readahead declined", "offset", off)
		return syscall.EIO
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, owner.ErrPeerDead):
		f.log.Warn(op+" failed: the page's owner is dead", "offset", off)
		return syscall.EIO
	case errors.Is(err, owner.ErrPageLost):
		f.log.Warn(op+" failed: the page died with its owner, no copy left", "offset", off)
		return syscall.EIO
	case errors.Is(err, owner.ErrFenced):
		return syscall.EIO // logged once, when the node fenced itself
	case errors.Is(err, locks.ErrServerLost):
		f.log.Warn(op+" failed", "offset", off, "err", err)
		return syscall.ENOLCK
	}
	f.log.Warn(op+" failed", "offset", off, "err", err)
	return syscall.EIO
}
