package pages

import (
	"bytes"
	"testing"

	"github.com/dsmfs/dsmfs/owner"
)

// TestLeftPagesReleasedInBatches: the memory of pages that left goes back
// to the kernel once a batch has left, but not that of a page that arrived
// again meanwhile.
func TestLeftPagesReleasedInBatches(t *testing.T) {
	s, err := New(releaseBatch+2, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	live := bytes.Repeat([]byte("live"), 1024)
	for p := range owner.PageID(releaseBatch + 2) {
		s.Arrive(p, live)
	}
	s.Left(0)
	s.Arrive(0, live) // it came back
	for p := owner.PageID(1); p < releaseBatch; p++ {
		s.Left(p)
		if !bytes.Equal(s.Bytes(p), live) {
			t.Fatalf("page %d released before a batch left", p)
		}
	}
	if err := s.Left(releaseBatch); err != nil {
		t.Fatal(err)
	}
	for p := owner.PageID(1); p <= releaseBatch; p++ {
		if !bytes.Equal(s.Bytes(p), make([]byte, 4096)) {
			t.Fatalf("page %d left, but its memory was not released", p)
		}
	}
	if !bytes.Equal(s.Bytes(0), live) || !bytes.Equal(s.Bytes(releaseBatch+1), live) {
		t.Fatal("a page here lost its bytes")
	}
	s.Arrive(releaseBatch+1, nil)
	if !bytes.Equal(s.Bytes(releaseBatch+1), make([]byte, 4096)) {
		t.Fatal("a page arriving with no bytes must read as zeros")
	}
}

func TestCopies(t *testing.T) {
	c := NewCopies(4096)
	if c.Copy(3) != nil {
		t.Fatal("a copy before any was kept")
	}
	c.Keep(3, bytes.Repeat([]byte{1}, 4096))
	c.Keep(3, bytes.Repeat([]byte{2}, 4096))
	if got := c.Copy(3); got[0] != 2 {
		t.Fatalf("the copy holds %d, want the last kept", got[0])
	}
	c.Drop(3)
	if c.Copy(3) != nil {
		t.Fatal("a dropped copy is still kept")
	}
	c.Keep(4, bytes.Repeat([]byte{4}, 4096))
	if len(c.spare) != 0 {
		t.Fatal("the dropped copy's buffer was not reused")
	}
}

// BenchmarkStoreArrive is a page arriving: 4 KiB copied into the store.
func BenchmarkStoreArrive(b *testing.B) {
	s, err := New(1024, 4096)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	page := make([]byte, 4096)
	b.SetBytes(4096)
	for i := range b.N {
		s.Arrive(owner.PageID(i%1024), page)
	}
}
