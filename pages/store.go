// Package pages holds the bytes of the segment's pages on one node.
//
// The store is one anonymous private mapping as large as the segment, so
// pages this node never held cost no memory, and a page's bytes never move.
// It implements owner.PageStore. It knows nothing of ownership: which pages
// are authoritative here is the owner package's business, and this package
// must never decide it.
package pages

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/dsmfs/dsmfs/owner"
)

// Store is the bytes of all pages, page p at [p*PageSize, (p+1)*PageSize).
// It has no lock of its own: the driver serializes access per page (see
// owner.Node), and distinct pages never overlap.
type Store struct {
	mem      []byte
	pageSize int
}

// New maps a store of pages × pageSize bytes, all zero.
func New(pages, pageSize int) (*Store, error) {
	mem, err := unix.Mmap(-1, 0, pages*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("page store of %d pages: %w", pages, err)
	}
	return &Store{mem: mem, pageSize: pageSize}, nil
}

// Bytes is page p itself.
func (s *Store) Bytes(p owner.PageID) []byte {
	off := int(p) * s.pageSize
	return s.mem[off : off+s.pageSize : off+s.pageSize]
}

// Release gives page p's memory back to the kernel; p reads as zeros after.
func (s *Store) Release(p owner.PageID) error {
	return unix.Madvise(s.Bytes(p), unix.MADV_DONTNEED)
}

// Close unmaps the store.
func (s *Store) Close() error { return unix.Munmap(s.mem) }
