package report

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Build is what the binary knows of its own making, from the module and
// version control information the Go toolchain writes into it.
type Build struct {
	Version   string // the module version: v1.2.3 from go install, "(devel)" from a checkout
	Revision  string // the VCS revision it was built from, "" if not recorded
	Time      string // the revision's commit time
	Modified  bool   // built from a tree with uncommitted changes
	GoVersion string
}

// ReadBuild is this binary's Build.
func ReadBuild() Build {
	b := Build{Version: "(devel)", GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	return buildOf(info)
}

func buildOf(info *debug.BuildInfo) Build {
	b := Build{Version: info.Main.Version, GoVersion: info.GoVersion}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the line `dsmfs version` prints.
func (b Build) String() string {
	var about []string
	if b.Revision != "" {
		about = append(about, "revision "+b.Revision)
	} else {
		about = append(about, "revision unknown")
	}
	if b.Time != "" {
		about = append(about, b.Time)
	}
	if b.Modified {
		about = append(about, "modified")
	}
	return fmt.Sprintf("dsmfs %s (%s) %s %s/%s", b.Version, strings.Join(about, ", "), b.GoVersion, runtime.GOOS, runtime.GOARCH)
}
