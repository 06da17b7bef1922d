package tests

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/dsmfs/dsmfs/tests/history"
)

// TestHistoryLinearizableAcrossKill: three programs on three nodes with
// --replicas 1 read and write (and msync) six registers at random while
// node 2 is killed in the middle. The history of every operation, the
// killed program's unfinished one included, must be linearizable: every
// read returns the value of the write that precedes it in one order
// consistent with real time, synced writes survive the kill, and the
// survivors go on after the recovery.
func TestHistoryLinearizableAcrossKill(t *testing.T) {
	c := startReplicaCluster(t)
	dir := t.TempDir()
	const regs, firstPage, secs = 6, 40, 8
	paths := make([]string, 3)
	runs := make([]progRun, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		paths[i] = filepath.Join(dir, fmt.Sprintf("history-%d.jsonl", i))
		argv := []string{bin.hist, c.seg(i), fmt.Sprint(i + 1), fmt.Sprint(firstPage), fmt.Sprint(regs), fmt.Sprint(secs), paths[i]}
		wg.Go(func() { runs[i] = runProgWithin(2*time.Minute, argv...) })
	}
	time.Sleep(secs * time.Second / 3)
	killed := time.Now().UnixNano()
	c.nodes[2].kill()
	wg.Wait()
	for i, r := range runs {
		t.Log(r)
		if i < 2 && r.err != nil {
			t.Fatalf("a survivor's program failed")
		}
	}
	ops, err := history.Read(paths...)
	if err != nil {
		t.Fatal(err)
	}
	after := map[int]int{}
	for _, op := range ops {
		if op.Returned() && op.Call > killed {
			after[op.Client]++
		}
	}
	t.Logf("%d operations; returned after the kill: %v", len(ops), after)
	if after[1] < 20 || after[2] < 20 {
		t.Fatalf("the survivors did not go on after the kill: %v operations returned after it", after)
	}
	failure := filepath.Join(dir, "violation.html")
	switch result, err := history.Check(ops, time.Minute, failure); {
	case err != nil:
		t.Fatal(err)
	case result != porcupine.Ok:
		t.Fatalf("history of %d operations: %s (see %s)", len(ops), result, failure)
	}
	if !strings.Contains(runs[2].out, "segment failed") && runs[2].err == nil {
		t.Logf("node 2's program ended without noticing the kill: %s", runs[2].out)
	}
}
