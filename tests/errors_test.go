package tests

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestClearErrors: bad input stops the daemon before it joins or mounts,
// with one line that says what is wrong.
func TestClearErrors(t *testing.T) {
	requireE2E(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	full := newMountDir(t)
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(full, "x")
	free := newMountDir(t)
	t.Cleanup(func() { os.RemoveAll(full); os.Remove(free) }) // nothing is mounted on them
	peer := []string{"--peer", "127.0.0.1:1", "--join-timeout", "1s"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not empty", append([]string{"mount", full}, peer...), "is not empty"},
		{"not a directory", append([]string{"mount", file}, peer...), "is not a directory"},
		{"missing", append([]string{"mount", free + "/nope"}, peer...), "does not exist"},
		{"port in use", append([]string{"mount", free, "--listen", taken.Addr().String()}, peer...), "address already in use"},
		{"bad size", append([]string{"mount", free, "--size", "5000"}, peer...), "not a multiple of the page size"},
		{"size and pages", append([]string{"mount", free, "--size", "1M", "--pages", "4"}, peer...), "not both"},
		{"bad block", append([]string{"mount", free, "--pages", "24", "--block", "16"}, peer...), "--block 16"},
		{"bad log format", append([]string{"mount", free, "--log-format", "xml"}, peer...), "--log-format"},
		// Reported at once: a join timeout longer than runProg waits
		// would kill the run if the port were only found bad by dialing.
		{"peer port out of range", []string{"mount", free, "--peer", "127.0.0.1:99999", "--join-timeout", "10m"}, `port "99999" is not a number from 1 to 65535`},
		{"listen port out of range", []string{"mount", free, "--listen", ":70000", "--peer", "127.0.0.1:7070", "--join-timeout", "10m"}, "--listen :70000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runProg(append([]string{bin.dsmfs}, tc.args...)...)
			if r.err == nil || !strings.Contains(r.out, tc.want) {
				t.Fatalf("want a failure saying %q, got %s", tc.want, r)
			}
			if isMounted(free) || isMounted(full) {
				t.Fatal("something was mounted")
			}
		})
	}
}

// TestUsageErrors: a command line that does not parse gets one line, with
// a guess at what was meant, and exit status 2, not the whole help.
func TestUsageErrors(t *testing.T) {
	requireE2E(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mount", "/mnt/dsm", "--lisen", ":7070"}, "did you mean --listen?"},
		{[]string{"moutn", "/mnt/dsm"}, `did you mean "mount"?`},
		{[]string{"stats"}, "stats needs one MOUNTPOINT"},
	} {
		cmd := exec.Command(bin.dsmfs, tc.args...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), tc.want) {
			t.Errorf("dsmfs %s: got %v and\n%s\nwant exit status 2 and one line saying %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}
}
