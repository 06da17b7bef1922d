package fs

import (
	"context"
	"errors"
	"sync"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/dsmfs/dsmfs/owner/locks"
)

// flock(2) and fcntl(2) locks on `segment` are cluster-wide: the kernel
// forwards them (MountOptions.EnableLocks) and the lock service
// (owner/locks) asks the lock server. flock arrives as a lock over the whole file with FUSE_LK_FLOCK.

var (
	_ = (fusefs.NodeGetlker)((*segmentNode)(nil))
	_ = (fusefs.NodeSetlker)((*segmentNode)(nil))
	_ = (fusefs.NodeSetlkwer)((*segmentNode)(nil))
)

func (s *segmentNode) Getlk(ctx context.Context, fh fusefs.FileHandle, lockOwner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	held, busy, err := s.fs.locks.Get(ctx, s.fs.lock(lockOwner, lk, flags))
	if err != nil {
		return s.fs.errno("getlk", int64(lk.Start), err)
	}
	*out = fuse.FileLock{Typ: syscall.F_UNLCK}
	if busy {
		out.Start, out.End, out.Typ = held.Start, held.End, syscall.F_RDLCK
		if held.Type == locks.Write {
			out.Typ = syscall.F_WRLCK
		}
		if held.Owner.Node == s.fs.cfg.Self {
			out.Pid = held.Pid // a pid on another node means nothing here
		}
	}
	return 0
}

func (s *segmentNode) Setlk(ctx context.Context, fh fusefs.FileHandle, lockOwner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return s.fs.setLock(ctx, lockOwner, lk, flags, false)
}

func (s *segmentNode) Setlkw(ctx context.Context, fh fusefs.FileHandle, lockOwner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return s.fs.setLock(ctx, lockOwner, lk, flags, true)
}

func (f *FS) setLock(ctx context.Context, lockOwner uint64, lk *fuse.FileLock, flags uint32, wait bool) syscall.Errno {
	l := f.lock(lockOwner, lk, flags)
	err := f.locks.Set(ctx, l, wait)
	switch {
	case errors.Is(err, locks.ErrBusy):
		return syscall.EAGAIN
	case err != nil:
		return f.errno("setlk", int64(lk.Start), err)
	}
	if !l.Owner.Flock && l.Type != locks.Unlock {
		f.lockers.add(lockOwner)
	}
	return 0
}

// lock is the cluster-wide form of a kernel lock request.
func (f *FS) lock(lockOwner uint64, lk *fuse.FileLock, flags uint32) locks.Lock {
	l := locks.Lock{
		Owner: locks.Owner{Node: f.cfg.Self, ID: lockOwner, Flock: flags&fuse.FUSE_LK_FLOCK != 0},
		Start: lk.Start, End: lk.End, Pid: lk.Pid,
	}
	switch lk.Typ {
	case syscall.F_RDLCK:
		l.Type = locks.Read
	case syscall.F_WRLCK:
		l.Type = locks.Write
	default:
		l.Type = locks.Unlock
	}
	return l
}

// lockers are the lock owners on this node that have taken POSIX locks, so
// that only their closes cost a round trip to the lock server.
type lockers struct {
	mu     sync.Mutex
	owners map[uint64]bool // guarded by mu
}

func (l *lockers) add(id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.owners == nil {
		l.owners = map[uint64]bool{}
	}
	l.owners[id] = true
}

// take reports whether id had taken locks, and forgets it.
func (l *lockers) take(id uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	had := l.owners[id]
	delete(l.owners, id)
	return had
}

// lockReleaser sees the lock owner of FLUSH and RELEASE requests, which
// go-fuse's node API does not pass on: a close releases the POSIX locks of
// the closing process (FLUSH), the last close of a file its flock
// (RELEASE with FUSE_RELEASE_FLOCK_UNLOCK).
type lockReleaser struct {
	fuse.RawFileSystem
	fs *FS
}

func (r *lockReleaser) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	if r.fs.lockers.take(in.LockOwner) {
		r.fs.releaseLocks(locks.Owner{Node: r.fs.cfg.Self, ID: in.LockOwner})
	}
	return r.RawFileSystem.Flush(cancel, in)
}

func (r *lockReleaser) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	if in.ReleaseFlags&fuse.FUSE_RELEASE_FLOCK_UNLOCK != 0 {
		r.fs.releaseLocks(locks.Owner{Node: r.fs.cfg.Self, ID: in.LockOwner, Flock: true})
	}
	r.RawFileSystem.Release(cancel, in)
}

func (f *FS) releaseLocks(o locks.Owner) {
	if err := f.locks.Release(context.Background(), o); err != nil {
		f.log.Error("cannot release locks of a closed file", "owner", o.ID, "err", err)
	}
}
