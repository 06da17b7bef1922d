package service

import (
	"errors"
	"fmt"
	stdnet "net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// childEnv marks the background process Background starts, which then
// runs in the foreground of its own session.
const childEnv = "DSMFS_BACKGROUND"

// InBackground reports whether this process is the one Background
// started.
func InBackground() bool { return os.Getenv(childEnv) == "1" }

// Background runs this program again with args, detached in a session of
// its own (stdin and stdout from /dev/null, stderr to logFile if given),
// and returns once it has said READY=1, as sshfs and `rclone --daemon`
// return once mounted. If it exits first, the error is the one it gave
// (Failure), or else how it ended. The child talks to a notify socket of
// our own, as it would to systemd; when this process runs under a service
// manager itself, READY=1 and the child's pid (MAINPID) are passed on.
// SIGINT or SIGTERM meanwhile stops the child.
func Background(args []string, logFile string) error {
	dir, err := os.MkdirTemp("", "dsmfs-daemon-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr := &stdnet.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"}
	sock, err := stdnet.ListenUnixgram("unixgram", addr)
	if err != nil {
		return err
	}
	defer sock.Close()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "NOTIFY_SOCKET=") || strings.HasPrefix(kv, childEnv+"=")
	}), "NOTIFY_SOCKET="+addr.Name, childEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("--log-file: %w", err)
		}
		defer f.Close()
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)

	status := ""
	buf := make([]byte, 4096)
	for {
		sock.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := sock.Read(buf)
		if ready, st := parseState(string(buf[:n])); ready {
			return Notify(fmt.Sprintf("READY=1\nMAINPID=%d", cmd.Process.Pid))
		} else if st != "" {
			status = st
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		select {
		case err := <-exited:
			// What it sent before it exited is queued already.
			sock.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			for n, rerr := sock.Read(buf); rerr == nil; n, rerr = sock.Read(buf) {
				if _, st := parseState(string(buf[:n])); st != "" {
					status = st
				}
			}
			if why, ok := strings.CutPrefix(status, failedPrefix); ok {
				return errors.New(why)
			}
			return fmt.Errorf("the daemon exited before it was ready (%v; its last status: %q)", err, status)
		case <-signals:
			cmd.Process.Signal(syscall.SIGTERM)
		default:
		}
	}
}

// parseState reads a notify datagram: whether it says READY=1, and its
// STATUS if any.
func parseState(msg string) (ready bool, status string) {
	for _, line := range strings.Split(msg, "\n") {
		switch {
		case line == "READY=1":
			ready = true
		case strings.HasPrefix(line, "STATUS="):
			status = strings.TrimPrefix(line, "STATUS=")
		}
	}
	return ready, status
}
