package tests

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestLargeSegmentStartsWhole: two nodes of an 8 GiB segment, with a peer
// timeout shorter than it takes to push 4 GiB of owned pages into the page
// cache. Each node hears the other from the join on, so neither is declared
// dead while the other still preloads, and each reads the other's pages;
// and the preload stops at its budget (1 GiB), so the page cache holds far
// less than the node's share before any program touched it.
func TestLargeSegmentStartsWhole(t *testing.T) {
	const pages = 8 << 30 / pageSize
	c := startClusterWith(t, clusterOpts{pages: pages, flags: []string{"--peer-timeout", "500ms"}})
	for i := range 2 {
		other := 1 - i
		page := other*pages/2 + 7 // in the other node's share
		f, err := os.Open(c.seg(i))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, pageSize)
		_, err = f.ReadAt(buf, int64(page)*pageSize)
		f.Close()
		if err != nil {
			t.Fatalf("node %d reading page %d of node %d: %v", i, page, other, err)
		}
		for _, p := range c.stats(i).Peers {
			if p.State != "up" {
				t.Fatalf("node %d counts peer %d %s after the start", i, p.Node, p.State)
			}
		}
	}
	for i := range 2 {
		if cached := cachedPages(t, c.seg(i), i*pages/2, pages/2); cached > (1<<30)/pageSize+64 {
			t.Errorf("node %d: %d MiB of its 4 GiB share cached before any program touched it, want at most the 1 GiB preload",
				i, cached*pageSize>>20)
		}
	}
	// A leave hands a million never-touched pages on, a header each:
	// about 12 s here, too close to what the harness waits for a stop.
	for _, d := range c.nodes {
		d.kill()
	}
}

// cachedPages counts the pages [first, first+n) of the segment at path that
// the kernel's page cache holds, without touching any (mincore(2); x/sys has no wrapper).
func cachedPages(t *testing.T, path string, first, n int) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), int64(first)*pageSize, n*pageSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, n)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	cached := 0
	for _, v := range vec {
		cached += int(v & 1)
	}
	return cached
}
