// Command gomap is the Go counterpart of c/dsmprog's write and check: it maps
// a dsmfs segment at the address the C programs use, so the tests can show a
// Go process and a C process sharing the same bytes across nodes.
//
//	gomap write|check PATH OFFSET COUNT SEED
//
// Exit status: 0 success, 1 the pattern differs, 2 usage or setup.
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// base is where every test program maps the segment, so that absolute
// pointers stored in it mean the same on every node.
const base = 0x40000000

func main() {
	if len(os.Args) != 6 || (os.Args[1] != "write" && os.Args[1] != "check") {
		fail(2, "usage: gomap write|check PATH OFFSET COUNT SEED")
	}
	var nums [3]uint64
	for i, s := range os.Args[3:] {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			fail(2, "bad number %q", s)
		}
		nums[i] = v
	}
	off, count, seed := nums[0], nums[1], nums[2]
	seg, err := mapSegment(os.Args[2])
	if err != nil {
		fail(2, "%v", err)
	}
	if off > uint64(len(seg)) || count > uint64(len(seg))-off {
		fail(2, "range %d+%d exceeds the segment (%d bytes)", off, count, len(seg))
	}
	if os.Args[1] == "write" {
		for i := off; i < off+count; i++ {
			seg[i] = pattern(i, seed)
		}
		fmt.Printf("wrote %d bytes\n", count)
		return
	}
	bad := 0
	for i := off; i < off+count; i++ {
		if got, want := seg[i], pattern(i, seed); got != want {
			if bad++; bad <= 5 {
				fmt.Fprintf(os.Stderr, "offset %d (page %d): got %02x want %02x\n", i, i/4096, got, want)
			}
		}
	}
	if bad > 0 {
		fail(1, "%d of %d bytes differ", bad, count)
	}
	fmt.Printf("checked %d bytes\n", count)
}

// mapSegment maps the whole file at base. MAP_FIXED_NOREPLACE turns a clash
// with an existing mapping into EEXIST instead of silently replacing it.
func mapSegment(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping keeps the file open
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size <= 0 || size%4096 != 0 {
		return nil, fmt.Errorf("%s: size %d is not a positive multiple of 4096", path, size)
	}
	// unsafe.Add from nil names the address without a uintptr conversion,
	// which vet would flag; it is only ever handed to the kernel.
	p, err := unix.MmapPtr(int(f.Fd()), 0, unsafe.Add(nil, base), uintptr(size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED_NOREPLACE)
	if errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("address range %#x-%#x is already in use in this process", base, base+size)
	}
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	if uintptr(p) != base { // kernels before 4.17 treat the flag as a hint
		return nil, fmt.Errorf("mmap placed the segment at %p instead of %#x", p, base)
	}
	return unsafe.Slice((*byte)(p), size), nil
}

// pattern is the byte expected at offset off for seed; c/dsmprog.c has the same.
func pattern(off, seed uint64) byte {
	h := off*0x9E3779B97F4A7C15 + seed
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return byte(h)
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gomap: "+format+"\n", args...)
	os.Exit(code)
}
