package pages

import (
	"bytes"
	"testing"

	"github.com/dsmfs/dsmfs/owner"
)

func TestStoreReleaseZeroes(t *testing.T) {
	s, err := New(4, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	copy(s.Bytes(2), "hello")
	if err := s.Release(2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Bytes(2), make([]byte, 4096)) {
		t.Fatal("a released page must read as zeros")
	}
}

// BenchmarkStoreInstall is a page arriving: 4 KiB copied into the store.
func BenchmarkStoreInstall(b *testing.B) {
	s, err := New(1024, 4096)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	page := make([]byte, 4096)
	b.SetBytes(4096)
	for i := range b.N {
		copy(s.Bytes(owner.PageID(i%1024)), page)
	}
}
