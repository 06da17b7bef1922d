package tests

// The language clients in examples/: each maps the segment on two real nodes
// and shares data through it, and each gives its clear error when 1 GiB is
// already taken in the process or the file is not a dsmfs segment.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	dsmgo "github.com/dsmfs/dsmfs/examples/go/dsm"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

const (
	// python is Debian's interpreter, the one python3-numpy installs for;
	// a python3 earlier on PATH (pyenv, venv) may lack numpy.
	python = "/usr/bin/python3"
	// buildTimeout bounds compiling an example.
	buildTimeout = 3 * time.Minute
)

// clientMapErrC maps each argument with dsm_map in one process, keeping what
// it mapped; "anon" first puts a page of anonymous memory at 1 GiB + 64 KiB,
// as a big heap could.
const clientMapErrC = `#include "dsm.h"

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char err[DSM_ERRLEN];
		size_t len;
		if (strcmp(argv[i], "anon") == 0) {
			void *want = (char *)DSM_ADDR + 0x10000;
			if (mmap(want, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != want)
				return 2;
			printf("anon ok\n");
		} else if (dsm_map(argv[i], &len, err, sizeof err) != NULL) {
			printf("ok %zu\n", len);
		} else {
			printf("err %d %s\n", errno, err);
		}
	}
	return 0;
}
`

// clientMapErrPy is clientMapErrC in Python; argv[1] is examples/python.
const clientMapErrPy = `import sys
sys.path.insert(0, sys.argv[1])
import dsm

dsm.exec_without_randomization()  # see dsm.py: a non-PIE python's heap may sit at 1 GiB

keep = []
for arg in sys.argv[2:]:
    if arg == "anon":
        want = dsm.ADDR + 0x10000
        if dsm._libc.mmap(want, 4096, dsm.PROT_READ, 0x22 | dsm.MAP_FIXED_NOREPLACE, -1, 0) != want:
            sys.exit(2)
        print("anon ok")
        continue
    try:
        keep.append(dsm.map(arg))
        print("ok", keep[-1].size)
    except OSError as e:
        print("err", e.errno, type(e).__name__, e)
`

// otherFUSERoot is a FUSE file system that is not dsmfs, with a regular file
// named segment: FUSE's statfs magic alone must not pass for dsmfs.
type otherFUSERoot struct{ fusefs.Inode }

func (r *otherFUSERoot) OnAdd(ctx context.Context) {
	f := &fusefs.MemRegularFile{Data: make([]byte, 16*pageSize), Attr: fuse.Attr{Mode: 0o600}}
	r.AddChild("segment", r.NewPersistentInode(ctx, f, fusefs.StableAttr{Mode: syscall.S_IFREG}), false)
}

// otherFUSESegment mounts an otherFUSERoot (type fuse.other) served by this
// process, and returns its segment. Serving it here is safe: the clients
// only open and stat it, they never map it.
func otherFUSESegment(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	server, err := fusefs.Mount(dir, &otherFUSERoot{}, &fusefs.Options{
		MountOptions: fuse.MountOptions{FsName: "other", Name: "other", DirectMount: true},
	})
	if err != nil {
		t.Fatalf("mounting a FUSE file system that is not dsmfs: %v", err)
	}
	t.Cleanup(func() { // before TempDir removes dir
		if server.Unmount() != nil { // busy if a broken client mapped it
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return filepath.Join(dir, "segment")
}

// clientErrorCases runs a map-error program (argv before the map arguments)
// through the cases every client must tell apart, checking each output line
// holds its substrings. names are the client's error names for address
// taken, not a segment, and no such file, or "" where it has none.
func clientErrorCases(t *testing.T, c *cluster, argv []string, taken, notSeg, noEnt string) {
	t.Helper()
	notSegFile := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notSegFile, make([]byte, 2*pageSize), 0o600); err != nil {
		t.Fatal(err)
	}
	size := strconv.Itoa(c.pages * pageSize)
	takenLine := []string{"err 17 " + taken, "already in use in this process"}
	cases := []struct {
		args []string
		want [][]string
	}{
		{[]string{c.seg(0)}, [][]string{{"ok " + size}}},
		{[]string{"anon", c.seg(0)}, [][]string{{"anon ok"}, takenLine}},
		{[]string{c.seg(1), c.seg(0)}, [][]string{{"ok " + size}, takenLine}},
		{[]string{notSegFile}, [][]string{{"err 124 " + notSeg, "not a dsmfs segment"}}},
		{[]string{otherFUSESegment(t)}, [][]string{{"err 124 " + notSeg, "not a dsmfs segment", "fuse.other"}}},
		{[]string{filepath.Join(c.nodes[0].mnt, "nonexistent")}, [][]string{{"err 2 " + noEnt, "No such file"}}},
	}
	for _, tc := range cases {
		out := mustRun(t, append(append([]string{}, argv...), tc.args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(tc.want) {
			t.Fatalf("%v: want %d lines, got:\n%s", tc.args, len(tc.want), out)
		}
		for i, subs := range tc.want {
			for _, s := range subs {
				if !strings.Contains(lines[i], s) {
					t.Errorf("%v: line %q lacks %q", tc.args, lines[i], s)
				}
			}
		}
	}
}

// runClientCounters runs a counter example on both nodes at once, n
// increments each, and checks the last to finish saw 2n and that the C test
// program reads 2n at countOff afterwards on both nodes.
func runClientCounters(t *testing.T, c *cluster, argv0 string, n, off, countOff int) {
	t.Helper()
	runs := runTogether(t,
		[]string{argv0, c.seg(0), strconv.Itoa(n), strconv.Itoa(off)},
		[]string{argv0, c.seg(1), strconv.Itoa(n), strconv.Itoa(off)})
	last := 0
	for _, r := range runs {
		v, err := strconv.Atoi(strings.TrimSpace(r.out))
		if err != nil {
			t.Fatalf("counter printed %q", r.out)
		}
		last = max(last, v)
	}
	if last != 2*n {
		t.Errorf("the counter that finished last saw %d, want %d", last, 2*n)
	}
	for i := range c.nodes {
		if v := c.getLong(i, countOff); v != int64(2*n) {
			t.Errorf("node %d reads the counter as %d, want %d", i, v, 2*n)
		}
	}
}

// buildClient runs a build command (gcc, go build) and fails the test if it
// fails or warns.
func buildClient(t *testing.T, argv ...string) {
	t.Helper()
	r := runProgWithin(buildTimeout, argv...)
	if r.err != nil || strings.TrimSpace(r.out) != "" {
		t.Fatalf("build: %v", r)
	}
}

func TestClientC(t *testing.T) {
	c := startCluster(t)
	dir := t.TempDir()
	counter, mapErr := filepath.Join(dir, "counter"), filepath.Join(dir, "maperr")
	src := filepath.Join(dir, "maperr.c")
	if err := os.WriteFile(src, []byte(clientMapErrC), 0o644); err != nil {
		t.Fatal(err)
	}
	cc := []string{"gcc", "-std=c99", "-pedantic", "-O2", "-Wall", "-Wextra", "-Werror", "-I", "../examples/c"}
	buildClient(t, append(cc, "-o", counter, "../examples/c/counter.c")...)
	buildClient(t, append(cc, "-o", mapErr, src)...)

	// Lock and counter on the last page, which node 1 owns at start.
	off := (c.pages - 1) * pageSize
	runClientCounters(t, c, counter, 20000, off, off+8)
	clientErrorCases(t, c, []string{mapErr}, "", "", "")
}

func TestClientGo(t *testing.T) {
	c := startCluster(t)
	counter := filepath.Join(t.TempDir(), "counter")
	buildClient(t, "go", "build", "-o", counter, "github.com/dsmfs/dsmfs/examples/go/counter")

	off := (c.pages - 1) * pageSize
	runClientCounters(t, c, counter, 200000, off, off)

	// The example's own report of a wrong file.
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, make([]byte, pageSize), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runProg(counter, plain, "1")
	var exit *exec.ExitError
	if !errors.As(r.err, &exit) || exit.ExitCode() != 4 || !strings.Contains(r.out, "not a dsmfs segment") {
		t.Errorf("counter on a plain file: want exit 4 and \"not a dsmfs segment\", got %v", r)
	}

	// The typed errors, in this process: mapping never touches a page, and
	// the daemons run in processes of their own, so no fault can deadlock.
	if _, err := dsmgo.Map(plain); !errors.Is(err, dsmgo.ErrNotSegment) {
		t.Errorf("Map(plain file) = %v, want ErrNotSegment", err)
	}
	if _, err := dsmgo.Map(otherFUSESegment(t)); !errors.Is(err, dsmgo.ErrNotSegment) ||
		!strings.Contains(fmt.Sprint(err), "fuse.other") {
		t.Errorf("Map(file on another FUSE file system) = %v, want ErrNotSegment naming fuse.other", err)
	}
	if _, err := dsmgo.Map(filepath.Join(c.nodes[0].mnt, "nonexistent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Map(nonexistent) = %v, want ErrNotExist", err)
	}
	anon, err := unix.MmapPtr(-1, 0, unsafe.Add(nil, dsmgo.Addr+0x10000), pageSize,
		unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE)
	if err != nil {
		t.Fatalf("placing anonymous memory at 1 GiB + 64 KiB: %v", err)
	}
	_, err = dsmgo.Map(c.seg(0))
	if !errors.Is(err, dsmgo.ErrAddressTaken) || !errors.Is(err, unix.EEXIST) ||
		!strings.Contains(fmt.Sprint(err), "already in use in this process") {
		t.Errorf("Map with 1 GiB + 64 KiB taken = %v, want ErrAddressTaken and EEXIST", err)
	}
	t.Logf("address taken: %v", err)
	if err := unix.MunmapPtr(anon, pageSize); err != nil {
		t.Fatal(err)
	}
	seg, err := dsmgo.Map(c.seg(0))
	if err != nil {
		t.Fatalf("Map once the range is free: %v", err)
	}
	if got := uintptr(unsafe.Pointer(unsafe.SliceData(seg.Bytes()))); got != dsmgo.Addr || len(seg.Bytes()) != c.pages*pageSize {
		t.Errorf("segment at %#x, %d bytes; want %#x, %d bytes", got, len(seg.Bytes()), dsmgo.Addr, c.pages*pageSize)
	}
	if _, err := dsmgo.Map(c.seg(1)); !errors.Is(err, dsmgo.ErrAddressTaken) {
		t.Errorf("second Map in one process = %v, want ErrAddressTaken", err)
	}
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	if seg, err = dsmgo.Map(c.seg(1)); err != nil {
		t.Fatalf("Map after Close: %v", err) // Close must free the range
	}
	seg.Close()
}

func TestClientPython(t *testing.T) {
	c := startCluster(t)
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("the Python client test runs %s (Debian's python3): %v", python, err)
	}
	examples, err := filepath.Abs("../examples/python")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(examples, "share_array.py")
	// Both ways whenever numpy is there, so the ctypes path never rots.
	numpy := exec.Command(python, "-c", "import numpy").Run() == nil
	dflt := "ctypes"
	if numpy {
		dflt = "numpy"
	}
	t.Logf("%s has numpy: %v", python, numpy)
	share := func(node int, mode string, page, seed int, extra ...string) progRun {
		argv := []string{python, "-B", script, mode, c.seg(node), "--offset", strconv.Itoa(page * pageSize), "--seed", strconv.Itoa(seed)}
		return runProg(append(argv, extra...)...)
	}
	wantOK := func(r progRun, how string) {
		t.Helper()
		if r.err != nil || !strings.Contains(r.out, "ok with "+how) {
			t.Fatalf("want success with %s: %v", how, r)
		}
		t.Log(r)
	}
	// Node 0 writes into pages node 1 starts with, node 1 reads; then the
	// other way round with the other path.
	wantOK(share(0, "write", c.pages-20, 11), dflt)
	wantOK(share(1, "check", c.pages-20, 11, "--ctypes"), "ctypes")
	wantOK(share(1, "write", 1, 12, "--ctypes"), "ctypes")
	wantOK(share(0, "check", 1, 12), dflt)
	// A checker that cannot fail proves nothing.
	if r := share(0, "check", 1, 13); r.err == nil || !strings.Contains(r.out, "check FAILED") {
		t.Errorf("check with the wrong seed: want a failure, got %v", r)
	}

	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, make([]byte, pageSize), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runProg(python, "-B", script, "check", plain)
	var exit *exec.ExitError
	if !errors.As(r.err, &exit) || exit.ExitCode() != 4 || !strings.Contains(r.out, "not a dsmfs segment") {
		t.Errorf("share_array.py on a plain file: want exit 4 and \"not a dsmfs segment\", got %v", r)
	}

	mapErr := filepath.Join(t.TempDir(), "maperr.py")
	if err := os.WriteFile(mapErr, []byte(clientMapErrPy), 0o644); err != nil {
		t.Fatal(err)
	}
	clientErrorCases(t, c, []string{python, "-B", mapErr, examples}, "AddressTakenError", "NotSegmentError", "FileNotFoundError")
}

// TestPythonPackage: examples/python installs with pip as the package
// dsmfs, module dsm, with nothing beyond the standard library (no index
// is reached), and the installed module maps a segment.
func TestPythonPackage(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 1})
	// pip builds in the source tree: build from a copy.
	src, lib := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "lib")
	mustRun(t, "cp", "-r", "../examples/python", src)
	mustRun(t, python, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps", "--no-index", "--target", lib, src)
	if _, err := os.Stat(filepath.Join(lib, "share_array.py")); err == nil {
		t.Error("the example share_array.py was installed with the module")
	}
	script := filepath.Join(t.TempDir(), "hello.py")
	os.WriteFile(script, []byte(`import sys, dsm
dsm.exec_without_randomization()
if not dsm.__file__.startswith(sys.argv[2]):
    sys.exit("dsm imported from %s, not the installed package" % dsm.__file__)
with dsm.map(sys.argv[1]) as seg:
    seg.buf[0:5] = b"hello"
`), 0o644)
	cmd := exec.Command(python, "-B", script, c.seg(0), lib)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+lib)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the installed module: %v\n%s", err, out)
	}
	got, err := inTime("read", 10*time.Second, func() ([]byte, error) {
		f, err := os.Open(c.seg(0))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b := make([]byte, 5)
		_, err = f.ReadAt(b, 0)
		return b, err
	})
	if err != nil || string(got) != "hello" {
		t.Fatalf("the segment holds %q (%v), want hello", got, err)
	}
}

// TestCHeaderInstalls: `make -C examples/c install` puts dsm.h and its
// pkg-config file under PREFIX, and a program built with pkg-config's
// flags alone, away from the source tree, maps a segment.
func TestCHeaderInstalls(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 1})
	prefix, work := t.TempDir(), t.TempDir()
	mustRun(t, "make", "-s", "-C", "../examples/c", "install", "PREFIX="+prefix)
	pc := exec.Command("pkg-config", "--cflags", "dsm")
	pc.Env = append(os.Environ(), "PKG_CONFIG_PATH="+filepath.Join(prefix, "share/pkgconfig"))
	cflags, err := pc.Output()
	if err != nil || strings.TrimSpace(string(cflags)) != "-I"+filepath.Join(prefix, "include") {
		t.Fatalf("pkg-config --cflags dsm: %q, %v", cflags, err)
	}
	mustRun(t, "cp", "../examples/c/counter.c", work)
	counter := filepath.Join(work, "counter")
	mustRun(t, append([]string{"gcc", "-O2", "-o", counter, filepath.Join(work, "counter.c")}, strings.Fields(string(cflags))...)...)
	if out := mustRun(t, counter, c.seg(0), "1000"); !strings.Contains(out, "1000") {
		t.Errorf("counter printed %q", out)
	}
}
