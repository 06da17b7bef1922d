package bench

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	pageSize = 4096
	// segmentBase is where every dsmfs program maps the segment, so that
	// pointers stored in it mean the same on every node.
	segmentBase = 0x40000000
)

// errBrkAtBase is a mapping that failed because the kernel put this
// process's brk heap at the segment's address. On x86-64 the kernel
// randomizes the start of brk anywhere in the 1 GiB above a non-PIE
// executable, and a Go binary linked with cgo is non-PIE and lets glibc
// malloc grow brk, so about one start in a hundred has its heap just above
// 0x40000000. A fresh exec draws a new place.
var errBrkAtBase = errors.New("the brk heap lies at the segment's address")

// mapAt maps the whole file at path MAP_SHARED at segmentBase, as dsmfs
// programs do. MAP_FIXED_NOREPLACE turns a clash with an existing mapping
// into EEXIST instead of silently replacing it. It does not use the Go
// client (examples/go/dsm), which rightly refuses the floor file: that is
// a trivial FUSE file, not a dsmfs segment.
func mapAt(path string) ([]byte, error) { return mapFileAt(path, segmentBase, false) }

// mapFileAt maps the whole file at path MAP_SHARED at addr: read-write, or
// with ro read-only (O_RDONLY, PROT_READ), as programs map segment.ro.
func mapFileAt(path string, addr uintptr, ro bool) ([]byte, error) {
	flags, prot := os.O_RDWR, unix.PROT_READ|unix.PROT_WRITE
	if ro {
		flags, prot = os.O_RDONLY, unix.PROT_READ
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping keeps the file open
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size <= 0 || size%pageSize != 0 {
		return nil, fmt.Errorf("%s: size %d is not a positive multiple of %d", path, size, pageSize)
	}
	// unsafe.Add from nil names the address without a uintptr conversion,
	// which vet would flag; it is only ever handed to the kernel.
	p, err := unix.MmapPtr(int(f.Fd()), 0, unsafe.Add(nil, addr), uintptr(size),
		prot, unix.MAP_SHARED|unix.MAP_FIXED_NOREPLACE)
	if errors.Is(err, unix.EEXIST) {
		in := mappingsIn(addr, addr+uintptr(size))
		err := fmt.Errorf("address range %#x-%#x is already in use in this process: %s", addr, addr+uintptr(size), in)
		if strings.Contains(in, "[heap]") {
			err = fmt.Errorf("%w: %w", errBrkAtBase, err)
		}
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	if uintptr(p) != addr { // kernels before 4.17 treat the flag as a hint
		return nil, fmt.Errorf("mmap placed %s at %p instead of %#x", path, p, addr)
	}
	return unsafe.Slice((*byte)(p), size), nil
}

// mappingsIn lists this process's mappings that overlap [lo, hi), from
// /proc/self/maps, to say what occupies the segment's address.
func mappingsIn(lo, hi uintptr) string {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err.Error()
	}
	var found []string
	for _, line := range strings.Split(string(maps), "\n") {
		var start, end uintptr
		if _, err := fmt.Sscanf(line, "%x-%x", &start, &end); err == nil && start < hi && end > lo {
			found = append(found, line)
		}
	}
	return strings.Join(found, "; ")
}

// mapMemfd maps a fresh memfd of n pages MAP_SHARED: the tmpfs floor.
func mapMemfd(n int) ([]byte, error) {
	fd, err := unix.MemfdCreate("dsmfs-bench", 0)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, int64(n)*pageSize); err != nil {
		return nil, fmt.Errorf("ftruncate memfd: %w", err)
	}
	b, err := unix.Mmap(fd, 0, n*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap memfd: %w", err)
	}
	return b, nil
}

// word is the 64-bit word at byte offset off of a mapping. Accesses go
// through sync/atomic so that the compiler neither drops nor hoists them,
// and another node's program sees them.
func word(m []byte, off int) *uint64 {
	return (*uint64)(unsafe.Pointer(&m[off]))
}

// sink keeps loads alive.
var sink atomic.Uint64

// load reads the first word of page p: one access, a fault if p is absent.
func load(m []byte, p int) { sink.Add(atomic.LoadUint64(word(m, p*pageSize))) }

// store writes the first word of page p.
func store(m []byte, p int, v uint64) { atomic.StoreUint64(word(m, p*pageSize), v) }

// resident reports whether page p of a file mapping is in this node's page
// cache. On a dsmfs node a cached page is a page held here, so an access to
// a page that is not resident is a fault.
func resident(m []byte, p int) (bool, error) {
	var vec [1]byte
	// x/sys has no wrapper for mincore.
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[p*pageSize])), pageSize, uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return false, fmt.Errorf("mincore: %w", errno)
	}
	return vec[0]&1 != 0, nil
}
