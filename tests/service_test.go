package tests

import (
	"bufio"
	"errors"
	"fmt"
	stdnet "net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestNotifyReady: under a service manager (NOTIFY_SOCKET, systemd's
// Type=notify), the daemon says READY=1 only once it is mounted and has
// joined, so that units ordered after it find the segment served, and
// STOPPING=1 when it leaves.
func TestNotifyReady(t *testing.T) {
	requireE2E(t)
	addr := filepath.Join(t.TempDir(), "notify")
	sock, err := stdnet.ListenUnixgram("unixgram", &stdnet.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	read := func() string {
		buf := make([]byte, 4096)
		sock.SetReadDeadline(time.Now().Add(readyTimeout))
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
	addrs := freeAddrs(t, 2)
	var ds []*daemon
	for i, a := range addrs {
		mnt := newMountDir(t)
		cmd := exec.Command(bin.dsmfs, mountArgs(mnt, mountFirst, "--listen", a, "--peer", addrs[1-i], "--pages", "256")...)
		if i == 0 {
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+addr)
		}
		ds = append(ds, launch(t, a, mnt, cmd))
	}
	for {
		msg := read()
		t.Logf("notified: %q", msg)
		if !strings.Contains(msg, "READY=1") {
			continue
		}
		// Ready means served: the log says mounted, and .owners (whose
		// open waits until the node has joined) reads at once.
		if !strings.Contains(ds[0].stderr.String(), "msg=mounted") {
			t.Errorf("READY=1 before the daemon logged that it is mounted:\n%s", ds[0].stderr.String())
		}
		if _, err := readFile(filepath.Join(ds[0].mnt, ".owners"), time.Second); err != nil {
			t.Errorf("READY=1, but .owners does not read: %v", err)
		}
		break
	}
	ds[0].stop(syscall.SIGTERM)
	if msg := read(); !strings.Contains(msg, "STOPPING=1") {
		t.Errorf("after SIGTERM, notified %q, want STOPPING=1", msg)
	}
}

// TestDaemonMode: `dsmfs mount -d` returns once the node is mounted and
// joined (each of two nodes started at once returns only when the other
// has joined), logs to --log-file, and runs on until unmounted.
func TestDaemonMode(t *testing.T) {
	requireE2E(t)
	addrs := freeAddrs(t, 2)
	logs := t.TempDir()
	var mnts []string
	var wg sync.WaitGroup
	results := make([]progRun, 2)
	for i, addr := range addrs {
		mnt := newMountDir(t)
		mnts = append(mnts, mnt)
		log := filepath.Join(logs, fmt.Sprint(i))
		t.Cleanup(func() { stopDaemonized(t, mnt, log) })
		wg.Go(func() {
			results[i] = runProg(bin.dsmfs, "mount", mnt, "-d", "--log-file", log, "--listen", addr, "--peer", addrs[1-i], "--pages", "256")
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil || r.out != "" {
			t.Fatalf("node %d: %s", i, r)
		}
		// Returned, so mounted and joined: .owners reads at once.
		text, err := readFile(filepath.Join(mnts[i], ".owners"), time.Second)
		if err != nil || !strings.Contains(text, "nodes=2") {
			t.Fatalf("node %d after dsmfs mount -d returned: %q, %v", i, text, err)
		}
	}
	mustRun(t, dsm("write", filepath.Join(mnts[0], "segment"), 0, 256*pageSize, 8)...)
	mustRun(t, dsm("check", filepath.Join(mnts[1], "segment"), 0, 256*pageSize, 8)...)
}

// TestDaemonModeFails: a daemon that cannot join exits, and
// `dsmfs mount -d` fails with its reason on one line, leaving no mount.
func TestDaemonModeFails(t *testing.T) {
	requireE2E(t)
	mnt := newMountDir(t)
	t.Cleanup(func() { os.Remove(mnt) })
	log := filepath.Join(t.TempDir(), "log")
	r := runProg(bin.dsmfs, "mount", mnt, "--daemon", "--log-file", log, "--listen", freeAddrs(t, 1)[0], "--peer", "127.0.0.1:1", "--join-timeout", "1s")
	var exit *exec.ExitError
	if !errors.As(r.err, &exit) || !strings.Contains(r.out, "dsmfs: peer 127.0.0.1:1 not joined within 1s") || strings.Count(r.out, "\n") != 1 {
		t.Fatalf("want a failure saying the peer did not join, in one line; got %s", r)
	}
	if isMounted(mnt) {
		t.Errorf("%s is mounted after the daemon failed", mnt)
	}
	if text, _ := os.ReadFile(log); !strings.Contains(string(text), "msg=joining") {
		t.Errorf("the log file lacks the daemon's log:\n%s", text)
	}
}

// stopDaemonized unmounts a mount served by a daemon in the background,
// which then leaves and exits, and waits for its process (named in log)
// to end.
func stopDaemonized(t *testing.T, mnt, log string) {
	defer os.Remove(mnt)
	text, _ := os.ReadFile(log)
	m := regexp.MustCompile(`msg=joining .* pid=(\d+)`).FindSubmatch(text)
	if isMounted(mnt) {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
			exec.Command("umount", "-l", mnt).Run()
		}
	}
	if m == nil {
		return
	}
	pid, _ := strconv.Atoi(string(m[1]))
	for deadline := time.Now().Add(stopTimeout); syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the daemon %d still runs %v after its mount went", pid, stopTimeout)
			syscall.Kill(pid, syscall.SIGKILL)
			return
		}
	}
	if t.Failed() {
		t.Logf("log of the daemon on %s:\n%s", mnt, lastLines(log))
	}
}

func lastLines(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// TestSystemdUnit: the unit waits for READY=1 (Type=notify) and gives the
// daemon longer to stop than its default leave timeout, and to start than
// its default join timeout, so that systemd never kills it in the middle.
func TestSystemdUnit(t *testing.T) {
	requireE2E(t)
	text, err := os.ReadFile("../scripts/dsmfs@.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string]string{}
	for _, line := range strings.Split(string(text), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = v
		}
	}
	help := mustRun(t, bin.dsmfs, "mount", "--help")
	defaults := map[string]string{}
	for _, flag := range []string{"leave-timeout", "join-timeout"} {
		m := regexp.MustCompile(`--` + flag + ` value .*\(default: (\w+)\)`).FindStringSubmatch(help)
		if m == nil {
			t.Fatalf("dsmfs mount --help gives no default for --%s:\n%s", flag, help)
		}
		defaults[flag] = m[1]
	}
	if unit["Type"] != "notify" {
		t.Errorf("Type=%s, want notify", unit["Type"])
	}
	for key, flag := range map[string]string{"TimeoutStopSec": "leave-timeout", "TimeoutStartSec": "join-timeout"} {
		limit, err := time.ParseDuration(unit[key] + "s")
		def, derr := time.ParseDuration(defaults[flag])
		if err != nil || derr != nil || limit <= def {
			t.Errorf("%s=%s, want more than --%s's default %s", key, unit[key], flag, defaults[flag])
		}
	}
}
