package tests

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestSegmentFile(t *testing.T) {
	c := startCluster(t)
	for i := range 2 {
		fi, err := inTime("stat", 10*time.Second, func() (os.FileInfo, error) { return os.Stat(c.seg(i)) })
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != int64(c.pages*pageSize) || fi.Mode() != 0o600 {
			t.Errorf("node %d: segment has size %d and mode %v, want %d and -rw-------",
				i, fi.Size(), fi.Mode(), c.pages*pageSize)
		}
	}
}

// TestUnservedFaultGetsSIGBUS freezes node 1's daemon: a program on node 0
// that touches a page node 1 owns must get SIGBUS once --timeout passes,
// rather than hang. Afterwards node 1 resumes and both stop cleanly.
func TestUnservedFaultGetsSIGBUS(t *testing.T) {
	// The peer timeout outlasts the stop (the kernel retries the READ a
	// few times, ~5 s in all): this is about --timeout, not a death.
	c := startClusterWith(t, clusterOpts{flags: []string{"--timeout", "2s", "--peer-timeout", "60s"}})
	frozen := c.nodes[1].cmd.Process
	if err := frozen.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer frozen.Signal(syscall.SIGCONT)

	r := runProg(dsm("check", c.seg(0), (c.pages-1)*pageSize, 1, 0)...)
	t.Log(r)
	var exit *exec.ExitError
	if !errors.As(r.err, &exit) {
		t.Fatalf("want the program killed by SIGBUS, got %v", r.err)
	}
	if ws := exit.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGBUS {
		t.Fatalf("want the program killed by SIGBUS, got %v", exit)
	}
}

// TestTreeIsFixed: no name in the mount can be removed, renamed, linked or
// added, and no file's mode, owner, times or size changed; each attempt
// fails with EPERM instead of seeming to work, and the mount goes on
// unchanged. It walks whatever the root lists, so a file added to the
// mount later is held to the same rules.
func TestTreeIsFixed(t *testing.T) {
	c := startClusterWith(t, clusterOpts{nodes: 1})
	root := c.nodes[0].mnt
	ls := func() []string {
		t.Helper()
		entries, err := inTime("readdir", 10*time.Second, func() ([]os.DirEntry, error) { return os.ReadDir(root) })
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	before := ls()
	if !slices.Contains(before, "segment") || !slices.Contains(before, ".owners") {
		t.Fatalf("the root lists %v", before)
	}
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, syscall.EPERM) {
			t.Errorf("%s: got %v, want EPERM", what, err)
		}
	}
	for _, name := range before {
		path := filepath.Join(root, name)
		refused("unlink "+name, syscall.Unlink(path))
		if err := syscall.Rmdir(path); !errors.Is(err, syscall.ENOTDIR) && !errors.Is(err, syscall.EPERM) {
			t.Errorf("rmdir %s: got %v, want ENOTDIR (the kernel's answer for a file) or EPERM", name, err)
		}
		refused("rename "+name, syscall.Rename(path, filepath.Join(root, "renamed")))
		refused("rename "+name+" over another name", syscall.Rename(path, filepath.Join(root, before[(slices.Index(before, name)+1)%len(before)])))
		refused("link "+name, syscall.Link(path, filepath.Join(root, "hardlink")))
		refused("chmod "+name, syscall.Chmod(path, 0o777))
		refused("chown "+name, syscall.Chown(path, 1, 1))
		refused("touch "+name, syscall.UtimesNano(path, []syscall.Timespec{{Sec: 1}, {Sec: 1}}))
		refused("truncate "+name, syscall.Truncate(path, pageSize))
	}
	refused("chmod of the root", syscall.Chmod(root, 0o700))
	refused("create", func() error {
		f, err := os.OpenFile(filepath.Join(root, "new"), os.O_CREATE|os.O_RDWR, 0o644)
		if err == nil {
			f.Close()
		}
		return err
	}())
	refused("mkdir", syscall.Mkdir(filepath.Join(root, "dir"), 0o755))
	refused("symlink", syscall.Symlink("segment", filepath.Join(root, "symlink")))
	refused("mknod", syscall.Mknod(filepath.Join(root, "fifo"), syscall.S_IFIFO|0o644, 0))

	// Truncating to the size it has changes nothing, and is allowed.
	if err := syscall.Truncate(c.seg(0), int64(c.pages*pageSize)); err != nil {
		t.Errorf("truncate segment to its own size: %v", err)
	}
	if after := ls(); !slices.Equal(after, before) {
		t.Fatalf("the root lists %v after the refusals, %v before", after, before)
	}
	fi, err := os.Stat(c.seg(0))
	if err != nil || fi.Size() != int64(c.pages*pageSize) || fi.Mode() != 0o600 {
		t.Fatalf("segment after the refusals: %v, %v", fi, err)
	}
	mustRun(t, dsm("write", c.seg(0), 0, 4*pageSize, 9)...)
	mustRun(t, dsm("check", c.seg(0), 0, 4*pageSize, 9)...)
}
