package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/dsmfs/dsmfs/owner"
)

// errno is the one place where the node's errors become what programs see.
// A failed page fault reaches a program that touched the mapping as SIGBUS.
func errno(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, owner.ErrTimeout), errors.Is(err, owner.ErrClosed):
		return syscall.EIO
	}
	return syscall.EIO
}
