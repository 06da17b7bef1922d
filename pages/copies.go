package pages

import (
	"sync"

	"github.com/dsmfs/dsmfs/owner"
)

// Copies are the bytes of the copies this node keeps of other nodes' pages.
// A page going back and forth is copied at every hand-off, so the buffers
// of dropped copies are kept for the next ones: allocating each time costs
// more than the copy.
type Copies struct {
	pageSize int

	mu     sync.Mutex
	copies map[owner.PageID][]byte // guarded by mu
	spare  [][]byte                // guarded by mu: buffers of dropped copies
}

// NewCopies returns an empty set of copies of pages of pageSize bytes.
func NewCopies(pageSize int) *Copies {
	return &Copies{pageSize: pageSize, copies: map[owner.PageID][]byte{}}
}

// Keep copies data as page p's copy.
func (c *Copies) Keep(p owner.PageID, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.copies[p]
	if !ok {
		if k := len(c.spare); k > 0 {
			b, c.spare = c.spare[k-1], c.spare[:k-1]
		} else {
			b = make([]byte, c.pageSize)
		}
		c.copies[p] = b
	}
	copy(b, data)
}

// Copy is page p's copy, nil if none is kept. It is valid until the next
// Keep or Drop of p.
func (c *Copies) Copy(p owner.PageID) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.copies[p]
}

// Drop forgets page p's copy.
func (c *Copies) Drop(p owner.PageID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.copies[p]; ok {
		c.spare = append(c.spare, b)
		delete(c.copies, p)
	}
}
