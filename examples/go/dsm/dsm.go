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
//
// A program that only reads maps the read-only view instead,
// MapReadOnly("/mnt/dsm/segment.ro"), whose pages many nodes hold at once as
// read copies. One that writes maps segment with Map and may also read
// through MapReadOnlyAt("/mnt/dsm/segment.ro", 0), wherever the kernel puts
// it, following stored pointers with Translate.
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
	ErrAddressTaken error = addressTaken{Addr}
	// ErrNotSegment means the file is not the segment of a dsmfs mount.
	ErrNotSegment = errors.New("not a dsmfs segment")
)

// addressTaken is ErrAddressTaken for the range at addr.
type addressTaken struct{ addr uintptr }

func (a addressTaken) Error() string {
	if a.addr == Addr {
		return "address range at 1 GiB is already in use in this process"
	}
	return fmt.Sprintf("address range at %#x is already in use in this process", a.addr)
}

// Is makes every address's error match ErrAddressTaken and unix.EEXIST.
func (addressTaken) Is(target error) bool {
	_, taken := target.(addressTaken)
	return taken || target == unix.EEXIST
}

// Segment is a mapped segment, or a mapped segment.ro.
type Segment struct {
	b []byte
}

// Map opens path read-write, checks that it is a dsmfs segment, and maps all
// of it MAP_SHARED at Addr.
func Map(path string) (*Segment, error) {
	return mapFile(path, Addr, false)
}

// MapReadOnly maps MOUNTPOINT/segment.ro, the segment's read-only view,
// PROT_READ at Addr, for a program that only reads: many nodes may hold a
// read copy of a page at once, and a copy rereads at memory speed. Bytes()
// is then read-only memory: a store into it faults, which the Go runtime
// reports as a fatal "unexpected fault address" (or a panic under
// debug.SetPanicOnFault). Errors as Map's, and ErrNotSegment for the
// writable segment, whose pages are exclusive.
func MapReadOnly(path string) (*Segment, error) {
	return mapFile(path, Addr, true)
}

// MapReadOnlyAt is MapReadOnly at addr (a multiple of 4096), or wherever
// the kernel finds room if addr is 0: for a program that writes, which maps
// segment at Addr with Map and reads through segment.ro elsewhere. Pointers
// stored in the segment point into Addr; follow them with Translate.
func MapReadOnlyAt(path string, addr uintptr) (*Segment, error) {
	return mapFile(path, addr, true)
}

// mapFile opens path (read-only if ro), checks it and maps it at addr, or
// anywhere if addr is 0.
func mapFile(path string, addr uintptr, ro bool) (*Segment, error) {
	if addr%pageSize != 0 {
		return nil, fmt.Errorf("%s: address %#x is not a multiple of %d", path, addr, pageSize)
	}
	flags, prot := os.O_RDWR, unix.PROT_READ|unix.PROT_WRITE
	if ro {
		flags, prot = os.O_RDONLY, unix.PROT_READ
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping keeps the file open
	size, err := check(f, ro)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Never plain MAP_FIXED: it would silently replace whatever the
	// process has there. unsafe.Add from nil names the address without
	// the uintptr conversion vet rejects; only the kernel dereferences it.
	mflags := unix.MAP_SHARED
	if addr != 0 {
		mflags |= unix.MAP_FIXED_NOREPLACE
	}
	p, err := unix.MmapPtr(int(f.Fd()), 0, unsafe.Add(nil, addr), uintptr(size), prot, mflags)
	if errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("%s: %w (%#x-%#x overlaps another mapping, or the segment is mapped twice)",
			path, addressTaken{addr}, addr, addr+uintptr(size))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	if addr != 0 && uintptr(p) != addr {
		// Kernels before 4.17 take the unknown flag as a hint and map
		// elsewhere when the range is taken.
		unix.MunmapPtr(p, uintptr(size))
		return nil, fmt.Errorf("%s: %w (the kernel mapped it at %p instead; or it predates MAP_FIXED_NOREPLACE, Linux 4.17)",
			path, addressTaken{addr}, p)
	}
	return &Segment{b: unsafe.Slice((*byte)(p), size)}, nil
}

// check returns the size of f if it is a dsmfs segment. FUSE's magic alone
// would accept any FUSE file; mapping one would "work" and share nothing.
// With ro, f must be segment.ro: segment opens read-only too, but its pages
// are exclusive, and segment.ro is the only dsmfs file with no write bit.
func check(f *os.File, ro bool) (int64, error) {
	var st unix.Stat_t
	var sfs unix.Statfs_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		return 0, err
	}
	if sfs.Type != fuseMagic || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, fmt.Errorf("%w (not a regular file on a FUSE mount; expected MOUNTPOINT/%s of a running dsmfs)", ErrNotSegment, want(ro))
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
	if ro && st.Mode&0o222 != 0 {
		return 0, fmt.Errorf("%w.ro (the file is writable: read copies come only through MOUNTPOINT/segment.ro)", ErrNotSegment)
	}
	return st.Size, nil
}

// want names the file a mount offers for ro or for writing.
func want(ro bool) string {
	if ro {
		return "segment.ro"
	}
	return "segment"
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

// Bytes is the whole segment; &Bytes()[0] is Addr, or where MapReadOnlyAt
// mapped it. It is invalid after Close, and read-only from MapReadOnly.
func (s *Segment) Bytes() []byte { return s.b }

// Translate turns p, a pointer into the segment as stored in it (at Addr),
// into a pointer to the same byte in this mapping: nil if p does not point
// into the segment, 0 included. (int(p - Addr) is its index in Bytes().)
func (s *Segment) Translate(p uintptr) unsafe.Pointer {
	if p < Addr || p-Addr >= uintptr(len(s.b)) {
		return nil
	}
	return unsafe.Pointer(&s.b[p-Addr])
}

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
