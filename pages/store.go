// Package pages holds the bytes of the segment's pages on one node: the
// pages it owns (Store) and the copies it keeps of other nodes' pages for
// recovery (Copies).
//
// The store is one anonymous private mapping as large as the segment, so
// pages this node never held cost no memory, and a page's bytes never move.
// It implements owner.PageStore and gives the memory of pages that left
// back to the kernel, in batches. Copies implements owner.CopyStore. This
// package knows nothing of ownership: which pages and copies are
// authoritative here is the owner package's business, and this package
// must never decide it.
package pages

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/dsmfs/dsmfs/owner"
)

// releaseBatch is how many pages that left are released at once: releasing
// is a syscall per page, so batching keeps it off most hand-offs.
const releaseBatch = 64

// Store is the bytes of all pages, page p at [p*PageSize, (p+1)*PageSize).
// Bytes needs no lock: the driver serializes access per page (see
// owner.Node), and distinct pages never overlap.
type Store struct {
	mem      []byte
	pageSize int

	mu   sync.Mutex
	gone map[owner.PageID]bool // guarded by mu: left, memory not yet released
}

// New maps a store of pages × pageSize bytes, all zero.
func New(pages, pageSize int) (*Store, error) {
	mem, err := unix.Mmap(-1, 0, pages*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("page store of %d pages: %w", pages, err)
	}
	return &Store{mem: mem, pageSize: pageSize, gone: map[owner.PageID]bool{}}, nil
}

// Bytes is page p itself.
func (s *Store) Bytes(p owner.PageID) []byte {
	off := int(p) * s.pageSize
	return s.mem[off : off+s.pageSize : off+s.pageSize]
}

// Arrive sets page p's bytes to data, zeros if data is empty: it came
// (back) to this node. Its memory is not released now, even if it left
// before.
func (s *Store) Arrive(p owner.PageID, data []byte) {
	s.mu.Lock()
	delete(s.gone, p)
	s.mu.Unlock()
	if len(data) == 0 {
		clear(s.Bytes(p))
		return
	}
	copy(s.Bytes(p), data)
}

// Left notes that page p left this node and that nothing reads its bytes
// any more. Every releaseBatch pages, the memory of those that have not
// arrived again since goes back to the kernel, so that a node's memory
// follows the pages it holds, not all it ever held. It reads as zeros
// after.
func (s *Store) Left(p owner.PageID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gone[p] = true
	if len(s.gone) < releaseBatch {
		return nil
	}
	var err error
	for q := range s.gone {
		if e := unix.Madvise(s.Bytes(q), unix.MADV_DONTNEED); e != nil && err == nil {
			err = fmt.Errorf("releasing page %d: %w", q, e)
		}
	}
	clear(s.gone)
	return err
}

// Close unmaps the store.
func (s *Store) Close() error { return unix.Munmap(s.mem) }
