package tests

import (
	"runtime"
	"strings"
	"testing"
)

// TestVersion: `dsmfs version`, `dsmfs --version` and `dsmfs -v` print one
// line naming the version (a checkout's build is "(devel)"), the revision
// if recorded, and the Go release that built it.
func TestVersion(t *testing.T) {
	requireE2E(t)
	want := mustRun(t, bin.dsmfs, "version")
	if !strings.HasPrefix(want, "dsmfs ") || !strings.Contains(want, "(revision ") || !strings.Contains(want, runtime.Version()) || strings.Count(want, "\n") != 1 {
		t.Fatalf("dsmfs version printed %q", want)
	}
	for _, flag := range []string{"--version", "-v"} {
		if got := mustRun(t, bin.dsmfs, flag); got != want {
			t.Errorf("dsmfs %s printed %q, dsmfs version %q", flag, got, want)
		}
	}
}
