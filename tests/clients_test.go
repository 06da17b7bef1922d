package tests

// The language clients in examples/: each maps the segment on two real nodes
// and shares data through it, and each gives its clear error when 1 GiB is
// already taken in the process or the file is not a dsmfs segment.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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
// it mapped, or with dsm_map_ro if it starts with "ro:"; "anon" first puts a
// page of anonymous memory at 1 GiB + 64 KiB, as a big heap could.
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
		} else if (strncmp(argv[i], "ro:", 3) == 0 ? dsm_map_ro(argv[i] + 3, &len, err, sizeof err) != NULL
							  : dsm_map(argv[i], &len, err, sizeof err) != NULL) {
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
        keep.append(dsm.map_ro(arg[3:]) if arg.startswith("ro:") else dsm.map(arg))
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
// holds its substrings: for the read-write map, and with ro for the
// read-only one ("ro:" before each path, segment.ro for segment, and the
// writable segment refused). names are the client's error names for
// address taken, not a segment, and no such file, or "" where it has none.
func clientErrorCases(t *testing.T, c *cluster, argv []string, ro bool, taken, notSeg, noEnt string) {
	t.Helper()
	notSegFile := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notSegFile, make([]byte, 2*pageSize), 0o600); err != nil {
		t.Fatal(err)
	}
	file, pre := c.seg, ""
	if ro {
		file, pre = c.ro, "ro:"
	}
	size := strconv.Itoa(c.pages * pageSize)
	takenLine := []string{"err 17 " + taken, "already in use in this process"}
	notSegLine := []string{"err 124 " + notSeg, "not a dsmfs segment"}
	cases := []struct {
		args []string
		want [][]string
	}{
		{[]string{pre + file(0)}, [][]string{{"ok " + size}}},
		{[]string{"anon", pre + file(0)}, [][]string{{"anon ok"}, takenLine}},
		{[]string{pre + file(1), pre + file(0)}, [][]string{{"ok " + size}, takenLine}},
		{[]string{pre + notSegFile}, [][]string{notSegLine}},
		{[]string{pre + otherFUSESegment(t)}, [][]string{append(notSegLine, "fuse.other")}},
		{[]string{pre + filepath.Join(c.nodes[0].mnt, "nonexistent")}, [][]string{{"err 2 " + noEnt, "No such file"}}},
	}
	if ro {
		cases = append(cases, struct {
			args []string
			want [][]string
		}{[]string{pre + c.seg(0)}, [][]string{append(notSegLine, "segment.ro", "writable")}})
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
	clientErrorCases(t, c, []string{mapErr}, false, "", "", "")
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
	clientErrorCases(t, c, []string{python, "-B", mapErr, examples}, false, "AddressTakenError", "NotSegmentError", "FileNotFoundError")
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

// clientROC is the C client's read-copy program:
//
//	watch RO OFFSET  dsm_map_ro, print the long at OFFSET, again per stdin line
//	list SEG FIRST N dsm_map SEG and dsm_map_ro_at SEG.ro anywhere; build a
//	                 list of N items, one a page from page FIRST+1, headed at
//	                 page FIRST, with pointers into 1 GiB; walk it through
//	                 segment.ro with dsm_ro_ptr; rewrite every value through
//	                 SEG and walk it again
//	walk RO FIRST N  dsm_map_ro at 1 GiB and walk the list as it is, pointers
//	                 untranslated, expecting the rewritten values
const clientROC = `#include "dsm.h"

struct item {
	long value;
	struct item *next;
};

static const char *map_ro(const char *path, void *addr, int at)
{
	char err[DSM_ERRLEN];
	size_t len;
	const char *p = at ? dsm_map_ro_at(path, addr, &len, err, sizeof err)
			   : dsm_map_ro(path, &len, err, sizeof err);
	if (p == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(2);
	}
	return p;
}

/* walk follows the list at head, translating through ro unless it is
 * DSM_ADDR, and checks item i holds (i+1)*mult. */
static void walk(const char *ro, struct item *const *head, long n, long mult)
{
	const struct item *it = dsm_ro_ptr(ro, *(struct item *const volatile *)dsm_ro_ptr(ro, head));
	long i;

	for (i = 0; it != NULL; i++) {
		long v = *(const volatile long *)&it->value;
		if (v != (i + 1) * mult) {
			fprintf(stderr, "item %ld holds %ld through segment.ro at %p, want %ld\n", i, v, (void *)ro, (i + 1) * mult);
			exit(1);
		}
		it = dsm_ro_ptr(ro, *(struct item *const volatile *)&it->next);
	}
	if (i != n) {
		fprintf(stderr, "walked %ld items through segment.ro, want %ld\n", i, n);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	char line[64];

	if (argc == 4 && strcmp(argv[1], "watch") == 0) {
		const char *ro = map_ro(argv[2], NULL, 0);
		do {
			printf("%ld\n", *(const volatile long *)(ro + atol(argv[3])));
			fflush(stdout);
		} while (fgets(line, sizeof line, stdin) != NULL);
		return 0;
	}
	if (argc == 5 && (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "walk") == 0)) {
		long first = atol(argv[3]), n = atol(argv[4]), i;
		struct item **head = (struct item **)((char *)DSM_ADDR + first * 4096);
		char *base, ro_path[4096], err[DSM_ERRLEN];
		const char *ro;
		size_t len;

		if (strcmp(argv[1], "walk") == 0) {
			walk(map_ro(argv[2], NULL, 0), head, n, 10);
			printf("walked %ld items at 1 GiB\n", n);
			return 0;
		}
		if ((base = dsm_map(argv[2], &len, err, sizeof err)) == NULL) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		snprintf(ro_path, sizeof ro_path, "%s.ro", argv[2]);
		ro = map_ro(ro_path, NULL, 1);
		if (ro == base)
			return 3;
		for (i = 0; i < n; i++) {
			struct item *it = (struct item *)(base + (first + 1 + i) * 4096);
			it->value = i + 1;
			it->next = i + 1 < n ? (struct item *)(base + (first + 2 + i) * 4096) : NULL;
		}
		*head = (struct item *)(base + (first + 1) * 4096);
		walk(ro, head, n, 1);
		for (i = 0; i < n; i++)
			((struct item *)(base + (first + 1 + i) * 4096))->value = (i + 1) * 10;
		walk(ro, head, n, 10);
		printf("walked %ld items twice through segment.ro at %p\n", n, (void *)ro);
		return 0;
	}
	return 2;
}
`

// clientROPy is clientROC's watch in Python: argv[1] is examples/python,
// then watch RO OFFSET. It also checks that the view refuses writes.
const clientROPy = `import ctypes, sys
sys.path.insert(0, sys.argv[1])
import dsm

dsm.exec_without_randomization()  # see dsm.py: a non-PIE python's heap may sit at 1 GiB

cmd, path, off = sys.argv[2], sys.argv[3], int(sys.argv[4])
if cmd == "watch":
    seg = dsm.map_ro(path)
    try:
        seg.buf[off] = 1
        sys.exit("a write into map_ro's buf went through")
    except TypeError:
        pass
    while True:
        print(seg.at(ctypes.c_int64, off).value, flush=True)
        if not sys.stdin.readline():
            break
elif cmd == "both":
    # Write a value and a pointer to it (at 1 GiB) through segment; follow
    # the pointer through segment.ro, mapped where the kernel likes.
    rw = dsm.map(path)
    ro = dsm.map_ro(path + ".ro", addr=None)
    if ro.addr == dsm.ADDR:
        sys.exit("map_ro(addr=None) mapped at 1 GiB")
    rw.at(ctypes.c_int64, off + 8).value = dsm.ADDR + off
    for v in (41, 42):
        rw.at(ctypes.c_int64, off).value = v
        stored = ctypes.c_int64.from_address(ro.translate(dsm.ADDR + off + 8)).value
        got = ctypes.c_int64.from_address(ro.translate(stored)).value
        if got != v:
            sys.exit(f"through segment.ro at {ro.addr:#x}, the pointer {stored:#x} leads to {got}, want {v}")
    print(f"followed the pointer through segment.ro at {ro.addr:#x} twice")
`

// watcher is a running client program that prints the long it watches
// once at start and again for every line on its stdin.
type watcher struct {
	argv []string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
}

func startWatcher(t *testing.T, argv ...string) *watcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), progTimeout)
	t.Cleanup(cancel)
	w := &watcher{argv: argv, cmd: exec.CommandContext(ctx, argv[0], argv[1:]...)}
	w.cmd.Stderr = os.Stderr
	var err error
	if w.in, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.out = bufio.NewReader(stdout)
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.cmd.Process.Kill(); w.cmd.Wait() })
	return w
}

// read is the next long the watcher printed; again first asks for one.
func (w *watcher) read(t *testing.T, again bool) int64 {
	t.Helper()
	if again {
		if _, err := io.WriteString(w.in, "\n"); err != nil {
			t.Fatalf("%v: %v", w.argv, err)
		}
	}
	line, err := w.out.ReadString('\n')
	v, perr := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil || perr != nil {
		t.Fatalf("%v printed %q (%v, %v)", w.argv, line, err, perr)
	}
	return v
}

// finish ends the watcher and checks it exited cleanly.
func (w *watcher) finish(t *testing.T) {
	t.Helper()
	w.in.Close()
	if err := w.cmd.Wait(); err != nil {
		t.Errorf("%v: %v", w.argv, err)
	}
}

// clientWatchesWrites runs a client's watcher (watch(i) is its argv on node
// i) on every node but 0 while a C program on node 0 writes through segment
// into a page node 0 owns: each sees the value, then, in the same mapping,
// the rewrite. The readers took read copies and never the page itself, and
// node 0 took the copies back before the rewrite.
func clientWatchesWrites(t *testing.T, c *cluster, watch func(i int) []string) {
	t.Helper()
	off := (c.firstPage(0) + 5) * pageSize
	mustRun(t, dsm("set", c.seg(0), off, 1111)...)
	var ws []*watcher
	for i := 1; i < len(c.nodes); i++ {
		ws = append(ws, startWatcher(t, watch(i)...))
		if v := ws[len(ws)-1].read(t, false); v != 1111 {
			t.Fatalf("node %d reads %d through segment.ro, want 1111", i, v)
		}
	}
	mustRun(t, dsm("set", c.seg(0), off, 2222)...)
	for i, w := range ws {
		if v := w.read(t, true); v != 2222 {
			t.Fatalf("node %d still reads %d through segment.ro after the rewrite, want 2222", i+1, v)
		}
		w.finish(t)
	}
	for i := 1; i < len(c.nodes); i++ {
		if st := c.stats(i); st.PagesIn != 0 || st.ReadCopiesTaken != 2 {
			t.Errorf("node %d: %d pages moved in, %d read copies taken; want 0 and 2 (one before, one after the rewrite)",
				i, st.PagesIn, st.ReadCopiesTaken)
		}
	}
	if st := c.stats(0); st.ReadRevocations < uint64(len(c.nodes)-1) {
		t.Errorf("node 0 took back %d read copies before the rewrite, want at least %d", st.ReadRevocations, len(c.nodes)-1)
	}
}

// TestClientCReadCopies: dsm_map_ro on two readers of three nodes sees a
// write and then a rewrite in the same mapping; a writer maps segment at
// 1 GiB and segment.ro elsewhere with dsm_map_ro_at, and follows stored
// pointers through the latter with dsm_ro_ptr, its own rewrites included;
// another node maps segment.ro at 1 GiB and follows them untranslated. And
// dsm_map_ro's errors.
func TestClientCReadCopies(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 3})
	dir := t.TempDir()
	cc := []string{"gcc", "-std=c99", "-pedantic", "-O2", "-Wall", "-Wextra", "-Werror", "-I", "../examples/c"}
	prog, mapErr := filepath.Join(dir, "roprog"), filepath.Join(dir, "maperr")
	for name, src := range map[string]string{prog: clientROC, mapErr: clientMapErrC} {
		if err := os.WriteFile(name+".c", []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		buildClient(t, append(cc, "-o", name, name+".c")...)
	}
	clientWatchesWrites(t, c, func(i int) []string {
		return []string{prog, "watch", c.ro(i), strconv.Itoa((c.firstPage(0) + 5) * pageSize)}
	})

	first := c.firstPage(0) + 10 // node 0's pages
	mustRun(t, prog, "list", c.seg(0), strconv.Itoa(first), "16")
	mustRun(t, prog, "walk", c.ro(2), strconv.Itoa(first), "16")
	if st := c.stats(2); st.PagesIn != 0 {
		t.Errorf("node 2 walked the list through segment.ro but took %d pages", st.PagesIn)
	}
	clientErrorCases(t, c, []string{mapErr}, true, "", "", "")
}

// TestClientGoReadCopies: the Go client's MapReadOnly sees a write and
// then a rewrite in the same mapping, and MapReadOnlyAt with Translate
// follows stored pointers beside a Map of segment on the writer's node;
// then MapReadOnly's errors, in this process (mapping touches no page).
func TestClientGoReadCopies(t *testing.T) {
	c := startCluster(t)
	off := (c.firstPage(0) + 5) * pageSize
	clientWatchesWrites(t, c, func(i int) []string { return gomap("watch", c.ro(i), off) })
	mustRun(t, gomap("both", c.seg(0), (c.firstPage(0)+20)*pageSize)...)

	if _, err := dsmgo.MapReadOnly(c.seg(0)); !errors.Is(err, dsmgo.ErrNotSegment) ||
		!strings.Contains(fmt.Sprint(err), "writable") {
		t.Errorf("MapReadOnly(segment) = %v, want ErrNotSegment saying it is writable", err)
	}
	if _, err := dsmgo.MapReadOnly(otherFUSESegment(t)); !errors.Is(err, dsmgo.ErrNotSegment) {
		t.Errorf("MapReadOnly(file on another FUSE file system) = %v, want ErrNotSegment", err)
	}
	if _, err := dsmgo.MapReadOnlyAt(c.ro(0), dsmgo.Addr+1); err == nil {
		t.Error("MapReadOnlyAt an unaligned address succeeded")
	}
	seg, err := dsmgo.MapReadOnly(c.ro(0))
	if err != nil {
		t.Fatalf("MapReadOnly: %v", err)
	}
	if got := uintptr(unsafe.Pointer(unsafe.SliceData(seg.Bytes()))); got != dsmgo.Addr || len(seg.Bytes()) != c.pages*pageSize {
		t.Errorf("segment.ro at %#x, %d bytes; want %#x, %d bytes", got, len(seg.Bytes()), dsmgo.Addr, c.pages*pageSize)
	}
	if _, err := dsmgo.MapReadOnly(c.ro(1)); !errors.Is(err, dsmgo.ErrAddressTaken) || !errors.Is(err, unix.EEXIST) {
		t.Errorf("second MapReadOnly in one process = %v, want ErrAddressTaken", err)
	}
	size := uintptr(c.pages * pageSize)
	if _, err := dsmgo.MapReadOnlyAt(c.ro(1), dsmgo.Addr+size-pageSize); !errors.Is(err, dsmgo.ErrAddressTaken) ||
		!strings.Contains(fmt.Sprint(err), fmt.Sprintf("%#x", dsmgo.Addr+size-pageSize)) {
		t.Errorf("MapReadOnlyAt over the end of another mapping = %v, want ErrAddressTaken naming the address", err)
	}
	at := dsmgo.Addr + 2*size
	other, err := dsmgo.MapReadOnlyAt(c.ro(1), at)
	if err != nil {
		t.Fatalf("MapReadOnlyAt a free address: %v", err)
	}
	if got := uintptr(unsafe.Pointer(unsafe.SliceData(other.Bytes()))); got != at {
		t.Errorf("MapReadOnlyAt(%#x) mapped at %#x", at, got)
	}
	if p := other.Translate(dsmgo.Addr + 100); uintptr(p) != at+100 {
		t.Errorf("Translate(Addr+100) = %p, want %#x", p, at+100)
	}
	if other.Translate(0) != nil || other.Translate(dsmgo.Addr+size) != nil {
		t.Error("Translate of a pointer outside the segment is not nil")
	}
	other.Close()
	seg.Close()
}

// TestClientPythonReadCopies: dsm.map_ro sees a write and then a rewrite in
// the same read-only view, and map_ro(addr=None) with translate() follows
// stored pointers beside dsm.map on the writer's node; and map_ro's errors.
func TestClientPythonReadCopies(t *testing.T) {
	c := startCluster(t)
	examples, err := filepath.Abs("../examples/python")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script, mapErr := filepath.Join(dir, "ro.py"), filepath.Join(dir, "maperr.py")
	for name, src := range map[string]string{script: clientROPy, mapErr: clientMapErrPy} {
		if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	off := strconv.Itoa((c.firstPage(0) + 5) * pageSize)
	clientWatchesWrites(t, c, func(i int) []string { return []string{python, "-B", script, examples, "watch", c.ro(i), off} })
	mustRun(t, python, "-B", script, examples, "both", c.seg(0), strconv.Itoa((c.firstPage(0)+20)*pageSize))
	clientErrorCases(t, c, []string{python, "-B", mapErr, examples}, true, "AddressTakenError", "NotSegmentError", "FileNotFoundError")
}
