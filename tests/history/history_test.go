package history

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// history writes lines, one JSON object each, to a file and reads it back.
func history(t *testing.T, lines ...string) []Op {
	t.Helper()
	path := filepath.Join(t.TempDir(), "h.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ops, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  porcupine.CheckResult
	}{
		{"a read after a write sees it", []string{
			`{"c":1,"s":0,"w":true,"k":3,"v":7,"t":10}`, `{"c":1,"s":0,"r":true,"k":3,"t":20}`,
			`{"c":2,"s":0,"k":3,"t":30}`, `{"c":2,"s":0,"r":true,"k":3,"v":7,"t":40}`,
		}, porcupine.Ok},
		{"a stale read after a write returned", []string{
			`{"c":1,"s":0,"w":true,"k":3,"v":7,"t":10}`, `{"c":1,"s":0,"r":true,"k":3,"t":20}`,
			`{"c":2,"s":0,"k":3,"t":30}`, `{"c":2,"s":0,"r":true,"k":3,"v":0,"t":40}`,
		}, porcupine.Illegal},
		{"a read of a value nobody wrote", []string{
			`{"c":2,"s":0,"k":1,"t":30}`, `{"c":2,"s":0,"r":true,"k":1,"v":9,"t":40}`,
		}, porcupine.Illegal},
		{"a write that never returned may take effect late", []string{
			`{"c":1,"s":0,"w":true,"k":3,"v":7,"t":10}`,
			`{"c":2,"s":0,"k":3,"t":30}`, `{"c":2,"s":0,"r":true,"k":3,"v":0,"t":40}`,
			`{"c":2,"s":1,"k":3,"t":50}`, `{"c":2,"s":1,"r":true,"k":3,"v":7,"t":60}`,
		}, porcupine.Ok},
		{"registers are independent, a cut last line is ignored", []string{
			`{"c":1,"s":0,"w":true,"k":1,"v":5,"t":10}`, `{"c":1,"s":0,"r":true,"k":1,"t":20}`,
			`{"c":2,"s":0,"k":2,"t":30}`, `{"c":2,"s":0,"r":true,"k":2,"v":0,"t":40}`, `{"c":2,"s":1,"k"`,
		}, porcupine.Ok},
	} {
		got, err := Check(history(t, tc.lines...), 10*time.Second, "")
		if err != nil || got != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestReadRefusesAReturnWithoutCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	os.WriteFile(path, []byte(`{"c":1,"s":4,"r":true,"k":1,"t":20}`+"\n"), 0o600)
	if _, err := Read(path); err == nil {
		t.Fatal("a return without its call was taken")
	}
}
