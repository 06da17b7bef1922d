package tests

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// progTimeout bounds every program run, so a page fault that is never served
// fails the test instead of hanging it.
const progTimeout = 60 * time.Second

// progRun is one finished run of a test program.
type progRun struct {
	argv []string
	out  string // stdout and stderr together
	err  error
}

func (r progRun) String() string {
	return fmt.Sprintf("%s: %v\n%s", strings.Join(r.argv, " "), r.err, r.out)
}

func runProg(argv ...string) progRun { return runProgWithin(progTimeout, argv...) }

// runProgWithin is runProg with a time limit of its own.
func runProgWithin(timeout time.Duration, argv ...string) progRun {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after %v: %w", timeout, err)
	}
	return progRun{argv, string(out), err}
}

// mustRun runs one program and fails the test unless it exits 0.
func mustRun(t *testing.T, argv ...string) string {
	t.Helper()
	r := runProg(argv...)
	if r.err != nil {
		t.Fatal(r)
	}
	t.Logf("%s: %s", strings.Join(argv, " "), strings.TrimSpace(r.out))
	return r.out
}

// runTogether starts all programs at once (one per node, typically), waits
// for all, and fails the test if any failed, showing every output.
func runTogether(t *testing.T, argvs ...[]string) []progRun {
	t.Helper()
	runs := make([]progRun, len(argvs))
	var wg sync.WaitGroup
	for i, argv := range argvs {
		wg.Go(func() { runs[i] = runProg(argv...) })
	}
	wg.Wait()
	failed := false
	for _, r := range runs {
		if r.err != nil {
			failed = true
		}
		t.Log(r)
	}
	if failed {
		t.FailNow()
	}
	return runs
}

// dsm builds a dsmprog command line.
func dsm(args ...any) []string {
	argv := []string{bin.prog}
	for _, a := range args {
		argv = append(argv, fmt.Sprint(a))
	}
	return argv
}

// gomap builds a gomap command line.
func gomap(args ...any) []string {
	return append([]string{bin.gomap}, dsm(args...)[1:]...)
}

// getLong reads the long at off through node i's segment.
func (c *cluster) getLong(i, off int) int64 {
	c.t.Helper()
	out := mustRun(c.t, dsm("get", c.seg(i), off)...)
	v, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		c.t.Fatalf("dsmprog get printed %q", out)
	}
	return v
}
