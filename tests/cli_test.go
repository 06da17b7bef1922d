package tests

import (
	"errors"
	"os/exec"
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

// TestManPage: `dsmfs man` is a manual page in roff that groff renders
// without a warning, made from the commands' own help, hidden ones left
// out.
func TestManPage(t *testing.T) {
	requireE2E(t)
	page := mustRunQuiet(t, bin.dsmfs, "man")
	for _, want := range []string{".TH dsmfs 1", ".SH mount", `\fB--listen\fP`, `\fB--daemon, -d\fP`, ".SH owners"} {
		if !strings.Contains(page, want) {
			t.Errorf("the manual page lacks %q", want)
		}
	}
	if strings.Contains(page, "bench-worker") {
		t.Error("the manual page shows a hidden command")
	}
	groff := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
	groff.Stdin = strings.NewReader(page)
	if out, err := groff.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff: %v\n%s", err, out)
	}
}

// TestCompletion: bash (the default), zsh and fish scripts, each for
// dsmfs and its flags; any other shell is a usage error.
func TestCompletion(t *testing.T) {
	requireE2E(t)
	bash := mustRunQuiet(t, bin.dsmfs, "completion")
	if bash != mustRunQuiet(t, bin.dsmfs, "completion", "bash") || !strings.Contains(bash, "complete -o default -F _dsmfs dsmfs") {
		t.Errorf("bash completion:\n%s", bash)
	}
	if zsh := mustRunQuiet(t, bin.dsmfs, "completion", "zsh"); !strings.HasPrefix(zsh, "#compdef dsmfs\n") || !strings.Contains(zsh, "--generate-bash-completion") {
		t.Errorf("zsh completion:\n%s", zsh)
	}
	fish := mustRunQuiet(t, bin.dsmfs, "completion", "fish")
	if !strings.Contains(fish, "complete -c dsmfs -n '__fish_seen_subcommand_from mount' -f -l listen -r") || strings.Contains(fish, "bench-worker") {
		t.Errorf("fish completion:\n%s", fish)
	}
	// What the scripts ask dsmfs for.
	if words := mustRunQuiet(t, bin.dsmfs, "mount", "--", "--generate-bash-completion"); !strings.Contains(words, "--peer") {
		t.Errorf("dsmfs mount -- --generate-bash-completion: %q", words)
	}
	r := runProg(bin.dsmfs, "completion", "tcsh")
	var exit *exec.ExitError
	if !errors.As(r.err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("completion tcsh: %s", r)
	}
}

// mustRunQuiet is mustRun without logging the output, for long texts.
func mustRunQuiet(t *testing.T, argv ...string) string {
	t.Helper()
	r := runProg(argv...)
	if r.err != nil {
		t.Fatal(r)
	}
	return r.out
}
