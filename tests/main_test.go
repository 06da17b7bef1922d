// Package tests holds the end-to-end tests of dsmfs: real daemons on
// loopback, each mounting its own directory, and separate programs (C and Go)
// that map the segment. The Go test process only orchestrates; it never maps
// a segment, since a fault served by a daemon in the same process deadlocks.
package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bin holds the executables TestMain builds once for all tests.
var bin struct {
	dsmfs, prog, gomap, lock, hist string
}

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	if skipE2E() {
		return m.Run() // every test skips itself
	}
	dir, err := os.MkdirTemp("", "dsmfs-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin.dsmfs = filepath.Join(dir, "dsmfs")
	bin.prog = filepath.Join(dir, "dsmprog")
	bin.gomap = filepath.Join(dir, "gomap")
	bin.lock = filepath.Join(dir, "lockprog")
	bin.hist = filepath.Join(dir, "histprog")
	steps := []struct {
		dir  string
		argv []string
	}{
		{"..", []string{"go", "build", "-o", bin.dsmfs, "github.com/dsmfs/dsmfs"}},
		{".", []string{"go", "build", "-o", bin.gomap, "./gomap"}},
		{".", []string{"go", "build", "-o", bin.hist, "./histprog"}},
		{".", []string{"gcc", "-O2", "-Wall", "-Werror", "-pthread", "-o", bin.prog, "c/dsmprog.c"}},
		{".", []string{"gcc", "-O2", "-Wall", "-Werror", "-o", bin.lock, "c/lockprog.c"}},
	}
	for _, s := range steps {
		cmd := exec.Command(s.argv[0], s.argv[1:]...)
		cmd.Dir = s.dir
		// Static Go binaries, as README builds them: a cgo-linked one
		// gets a glibc brk heap that can land where segments map.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e setup: %s (in %s): %v\n%s", strings.Join(s.argv, " "), s.dir, err, out)
			return 1
		}
	}
	return m.Run()
}

func skipE2E() bool { return os.Getenv("DSMFS_SKIP_E2E") == "1" }

// requireE2E refuses to let a missing FUSE device or missing privileges pass
// as a green run: only an explicit DSMFS_SKIP_E2E=1 skips.
func requireE2E(t *testing.T) {
	t.Helper()
	if skipE2E() {
		t.Skip("DSMFS_SKIP_E2E=1: end-to-end tests skipped on request")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Fatalf("the dsmfs end-to-end tests need /dev/fuse (%v); run them where FUSE works, or set DSMFS_SKIP_E2E=1 knowingly", err)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("the dsmfs end-to-end tests must run as root (mount and umount of the test mounts); euid is %d; or set DSMFS_SKIP_E2E=1 knowingly", os.Geteuid())
	}
}
