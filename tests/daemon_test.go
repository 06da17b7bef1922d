package tests

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopTimeout is how long a daemon gets to unmount and exit after a signal
// before the harness kills it and detaches its mount by force.
const stopTimeout = 15 * time.Second

// daemon is one dsmfs process with its own mount directory.
type daemon struct {
	t      *testing.T
	name   string // node name: its listen address
	mnt    string
	cmd    *exec.Cmd
	stderr syncBuffer
	exited chan struct{} // closed once cmd.Wait returned
	// seenExit is set by the test once it has looked at the exit on purpose,
	// so cleanup does not report it as a crash.
	seenExit bool
}

// newMountDir makes a mount directory outside t.TempDir, whose removal would
// fail (and fail the test) if a broken daemon left the mount behind.
func newMountDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dsmfs-e2e-mnt-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// startDaemon runs `dsmfs args...` for node name serving mnt and registers a
// cleanup that stops it and checks that the mount is gone.
func startDaemon(t *testing.T, name, mnt string, args []string) *daemon {
	t.Helper()
	t.Logf("%s: dsmfs %s", name, strings.Join(args, " "))
	return launch(t, name, mnt, exec.Command(bin.dsmfs, args...))
}

// launch starts cmd, a dsmfs daemon for node name serving mnt (maybe
// behind a wrapper such as nsenter), and registers its cleanup.
func launch(t *testing.T, name, mnt string, cmd *exec.Cmd) *daemon {
	t.Helper()
	d := &daemon{t: t, name: name, mnt: mnt, exited: make(chan struct{}), cmd: cmd}
	d.cmd.Stdout = &d.stderr
	d.cmd.Stderr = &d.stderr
	// If the test binary dies (e.g. go test -timeout), the daemon still gets
	// a chance to unmount.
	if d.cmd.SysProcAttr == nil {
		d.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	d.cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	d.cmd.WaitDelay = time.Second
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", d.cmd.Path, err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(d.cleanup)
	return d
}

func (d *daemon) running() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// waitExit waits up to timeout for the daemon to exit and reports whether it
// did; the test is then responsible for judging the exit status.
func (d *daemon) waitExit(timeout time.Duration) bool {
	select {
	case <-d.exited:
		d.seenExit = true
		return true
	case <-time.After(timeout):
		return false
	}
}

// exitCode is the exit status, or -1 if a signal ended the process.
func (d *daemon) exitCode() int { return d.cmd.ProcessState.ExitCode() }

// stop sends sig and requires a clean exit (status 0) with the mount gone.
func (d *daemon) stop(sig os.Signal) {
	d.t.Helper()
	if !d.running() {
		d.t.Errorf("%s: daemon had already exited (%v) before %v", d.name, d.cmd.ProcessState, sig)
		d.seenExit = true
		return
	}
	d.cmd.Process.Signal(sig)
	if !d.waitExit(stopTimeout) {
		d.t.Errorf("%s: daemon still running %v after %v", d.name, stopTimeout, sig)
		d.kill()
		return
	}
	if code := d.exitCode(); code != 0 {
		d.t.Errorf("%s: daemon exited with %v after %v, want status 0", d.name, d.cmd.ProcessState, sig)
	}
	if isMounted(d.mnt) {
		d.t.Errorf("%s: %s is still mounted after the daemon exited on %v", d.name, d.mnt, sig)
	}
}

// kill is the last resort for a daemon that does not stop: SIGKILL and a lazy
// unmount, so that a broken daemon can never hang or pollute the machine.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.exited
	d.seenExit = true
	if isMounted(d.mnt) {
		exec.Command("umount", "-l", d.mnt).Run()
	}
}

func (d *daemon) cleanup() {
	t := d.t
	if d.running() {
		d.stop(syscall.SIGTERM)
	} else if !d.seenExit {
		t.Errorf("%s: daemon exited during the test: %v", d.name, d.cmd.ProcessState)
	}
	if isMounted(d.mnt) {
		t.Errorf("%s: %s was left mounted; detaching it", d.name, d.mnt)
		exec.Command("umount", "-l", d.mnt).Run()
	}
	// A node restarted on the same mount point shares it: whichever
	// cleanup comes last finds it gone.
	if err := os.Remove(d.mnt); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: remove mount dir: %v", d.name, err)
	}
	if t.Failed() {
		t.Logf("%s: daemon output:\n%s", d.name, d.stderr.tail(64<<10))
	}
}

// isMounted reports whether /proc/self/mounts lists dir as a mount point.
// It never touches the mount itself, which could block on a wedged daemon.
func isMounted(dir string) bool {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 1 && fields[1] == dir {
			return true
		}
	}
	return false
}

// readFile reads a file on a mount; see inTime.
func readFile(path string, timeout time.Duration) (string, error) {
	data, err := inTime("read "+path, timeout, func() ([]byte, error) { return os.ReadFile(path) })
	return string(data), err
}

// inTime runs f, a file system call on a mount, with a deadline: a wedged
// daemon blocks the call in the kernel, and the test must fail rather than
// hang. A call that times out is abandoned.
func inTime[T any](what string, timeout time.Duration, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(timeout):
		var zero T
		return zero, errors.New(what + " timed out")
	}
}

// syncBuffer collects a daemon's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns at most the last n bytes, enough to diagnose a failure
// without drowning the test log.
func (b *syncBuffer) tail(n int) string {
	s := b.String()
	if len(s) > n {
		return "[...]\n" + s[len(s)-n:]
	}
	return s
}
