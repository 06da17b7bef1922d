// Package dsm maps a dsmfs segment into a Go program.
//
//	seg, err := dsm.Map("/mnt/dsm/segment")
//	if err != nil {
//		log.Fatal(err) // errors.Is(err, dsm.ErrAddressTaken), dsm.ErrNotSegment
//	}
//	defer seg.Close()
//	b := seg.Bytes() // &b[0] is 0x40000000 on every node
//
// The segment always lands at Addr (1 GiB), so pointers stored in it mean the
// same on every node. A pure Go program has nothing there in practice; one
// using cgo and not built with -buildmode=pie may now and then find the C
// heap there (the kernel starts it anywhere in the first GiB). Never map a
// segment from the process that runs its dsmfs daemon: the page fault would
// wait for itself.
package dsm

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Addr is where every program maps the segment.
const Addr = 0x40000000

const (
	fuseMagic = 0x65735546   // FUSE_SUPER_MAGIC, statfs f_type
	fsType    = "fuse.dsmfs" // a dsmfs mount's type in /proc/self/mountinfo
	pageSize  = 4096
)

var (
	// ErrAddressTaken means something in this process already uses the
	// range at Addr: another mapping, or the segment mapped twice. It also
	// matches unix.EEXIST, what mmap said.
	ErrAddressTaken error = addressTaken{}
	// ErrNotSegment means the file is not the segment of a dsmfs mount.
	ErrNotSegment = errors.New("not a dsmfs segment")
)

type addressTaken struct{}

func (addressTaken) Error() string {
	return "address range at 1 GiB is already in use in this process"
}

func (addressTaken) Is(target error) bool { return target == unix.EEXIST }

// Segment is a mapped segment.
type Segment struct {
	b []byte
}

// Map opens path read-write, checks that it is a dsmfs segment, and maps all
// of it MAP_SHARED at Addr.
func Map(path string) (*Segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping keeps the file open
	size, err := check(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Never plain MAP_FIXED: it would silently replace whatever the
	// process has there. unsafe.Add from nil names the address without
	// the uintptr conversion vet rejects; only the kernel dereferences it.
	p, err := unix.MmapPtr(int(f.Fd()), 0, unsafe.Add(nil, Addr), uintptr(size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED_NOREPLACE)
	if errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("%s: %w (%#x-%#x overlaps another mapping, or the segment is mapped twice)",
			path, ErrAddressTaken, Addr, Addr+size)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	if uintptr(p) != Addr {
		// Kernels before 4.17 take the unknown flag as a hint and map
		// elsewhere when the range is taken.
		unix.MunmapPtr(p, uintptr(size))
		return nil, fmt.Errorf("%s: %w (the kernel mapped it at %p instead; or it predates MAP_FIXED_NOREPLACE, Linux 4.17)",
			path, ErrAddressTaken, p)
	}
	return &Segment{b: unsafe.Slice((*byte)(p), size)}, nil
}

// check returns the size of f if it is a dsmfs segment. FUSE's magic alone
// would accept any FUSE file; mapping one would "work" and share nothing.
func check(f *os.File) (int64, error) {
	var st unix.Stat_t
	var sfs unix.Statfs_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		return 0, err
	}
	if sfs.Type != fuseMagic || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, fmt.Errorf("%w (not a regular file on a FUSE mount; expected MOUNTPOINT/segment of a running dsmfs)", ErrNotSegment)
	}
	typ, err := mountType(st.Dev)
	if err != nil {
		return 0, err
	}
	if typ != fsType {
		return 0, fmt.Errorf("%w (file system type %s, want %s)", ErrNotSegment, typ, fsType)
	}
	if st.Size <= 0 || st.Size%pageSize != 0 {
		return 0, fmt.Errorf("%w (size %d is not a positive multiple of %d)", ErrNotSegment, st.Size, pageSize)
	}
	return st.Size, nil
}

// mountType finds the type of the mount with device dev in mountinfo
// ("ID PARENT MAJ:MIN ROOT MNT OPTS... - FSTYPE SOURCE SUPEROPTS"). The
// device, not the path, names the mount: symlinks and bind mounts don't matter.
func mountType(dev uint64) (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	want := fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != want {
			continue
		}
		_, rest, ok := strings.Cut(sc.Text(), " - ")
		if rest = strings.TrimSpace(rest); ok && rest != "" {
			return strings.Fields(rest)[0], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%w (device %s is not in /proc/self/mountinfo)", ErrNotSegment, want)
}

// Bytes is the whole segment; &Bytes()[0] is Addr. It is invalid after Close.
func (s *Segment) Bytes() []byte { return s.b }

// Close unmaps the segment. Pages this node owns stay with it until another
// node asks for them, so nothing written is lost.
func (s *Segment) Close() error {
	if s.b == nil {
		return nil
	}
	// MunmapPtr, as unix.Munmap only knows mappings made by unix.Mmap.
	err := unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(s.b)), uintptr(len(s.b)))
	s.b = nil
	return err
}
