package service

import (
	"errors"
	"fmt"
	"log/slog"
	"log/syslog"
	stdnet "net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listen is a notify socket, as systemd would give, and reads one
// datagram from it.
func listen(t *testing.T) (addr string, read func() string) {
	t.Helper()
	addr = filepath.Join(t.TempDir(), "notify")
	sock, err := stdnet.ListenUnixgram("unixgram", &stdnet.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	return addr, func() string {
		buf := make([]byte, 4096)
		sock.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
}

func TestNotify(t *testing.T) {
	addr, read := listen(t)
	t.Setenv("NOTIFY_SOCKET", addr)
	if err := Notify("READY=1\n" + Status("mounted\nand joined")); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "READY=1\nSTATUS=mounted and joined" {
		t.Fatalf("got %q", got)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Notify("READY=1"); err != nil {
		t.Fatalf("without a service manager: %v", err)
	}
}

// TestHelperDaemon is the background child of TestBackground, this test
// binary started again: it does what DSMFS_HELPER says.
func TestHelperDaemon(t *testing.T) {
	if !InBackground() {
		t.Skip("run by TestBackground only")
	}
	switch os.Getenv("DSMFS_HELPER") {
	case "ready":
		Notify(Status("joining"))
		Notify("READY=1")
		time.Sleep(time.Minute) // a daemon goes on; the parent must not wait for it
	case "fail":
		Notify(Status("joining"))
		Notify(Failure(errors.New("peer 10.0.0.2:7070 not joined within 1m0s")))
		os.Exit(1)
	case "crash":
		Notify(Status("joining"))
		os.Exit(3)
	}
}

// TestBackground: the parent returns once the child is ready, with the
// child's own error if it gives up, and with how it ended if it dies
// without a word; under a service manager it passes READY=1 on with the
// child's pid.
func TestBackground(t *testing.T) {
	args := []string{"-test.run=^TestHelperDaemon$"}
	manager, read := listen(t)
	t.Setenv("NOTIFY_SOCKET", manager)
	t.Setenv("DSMFS_HELPER", "ready")
	if err := Background(args, ""); err != nil {
		t.Fatalf("ready: %v", err)
	}
	got := read()
	var pid int
	if _, err := fmt.Sscanf(got, "READY=1\nMAINPID=%d", &pid); err != nil {
		t.Fatalf("the service manager got %q", got)
	}
	// Background returned while the daemon runs on.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Errorf("the daemon %d is not running: %v", pid, err)
	}
	t.Setenv("DSMFS_HELPER", "fail")
	if err := Background(args, ""); err == nil || err.Error() != "peer 10.0.0.2:7070 not joined within 1m0s" {
		t.Errorf("fail: got %v", err)
	}
	t.Setenv("DSMFS_HELPER", "crash")
	if err := Background(args, ""); err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), `"joining"`) {
		t.Errorf("crash: got %v", err)
	}
}

// TestSyslogLogger: records go to syslog one message each.
func TestSyslogLogger(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "log")
	sock, err := stdnet.ListenUnixgram("unixgram", &stdnet.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	w, err := syslog.Dial("unixgram", addr, syslog.LOG_DAEMON|syslog.LOG_INFO, "dsmfs")
	if err != nil {
		t.Fatal(err)
	}
	newLogger(w, slog.LevelInfo, "text").Info("mounted", "mountpoint", "/mnt/dsm")
	buf := make([]byte, 4096)
	sock.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := sock.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); !strings.Contains(got, "dsmfs[") || !strings.Contains(got, "msg=mounted mountpoint=/mnt/dsm") {
		t.Errorf("syslog got %q", got)
	}
}

func TestLoggerRefusesBadSettings(t *testing.T) {
	for _, tc := range [][3]string{{"loud", "text", ""}, {"info", "xml", ""}, {"info", "text", "/nonexistent/dir/log"}} {
		if _, err := Logger(tc[0], tc[1], tc[2]); err == nil {
			t.Errorf("Logger%q succeeded", tc)
		}
	}
}
