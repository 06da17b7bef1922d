package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// testApp has one command with every kind of flag FlagsFirst tells apart.
func testApp(action cli.ActionFunc) *cli.App {
	return &cli.App{
		Name:         "dsmfs",
		OnUsageError: OnUsageError,
		Action:       CommandNotFound,
		Commands: []*cli.Command{{
			Name:         "mount",
			OnUsageError: OnUsageError,
			Flags: []cli.Flag{
				&cli.StringSliceFlag{Name: "peer"},
				&cli.StringFlag{Name: "listen"},
				&cli.BoolFlag{Name: "allow-other"},
				&cli.GenericFlag{Name: "watch", Value: &OptionalDuration{Default: time.Second}},
			},
			Action: action,
		}},
	}
}

func TestFlagsFirst(t *testing.T) {
	app := testApp(nil)
	for _, tc := range []struct{ in, want string }{
		{"dsmfs mount /mnt --peer h --listen :1", "dsmfs mount --peer h --listen :1 -- /mnt"},
		{"dsmfs mount --peer h /mnt", "dsmfs mount --peer h -- /mnt"},
		{"dsmfs mount /mnt --allow-other --peer=h", "dsmfs mount --allow-other --peer=h -- /mnt"},
		{"dsmfs mount /mnt --watch", "dsmfs mount --watch -- /mnt"},
		{"dsmfs mount /mnt --watch 200ms", "dsmfs mount --watch=200ms -- /mnt"},
		{"dsmfs mount --watch /mnt", "dsmfs mount --watch -- /mnt"},
		{"dsmfs mount /mnt --peer", "dsmfs mount --peer"},
		{"dsmfs mount -- --odd", "dsmfs mount -- --odd"},
		{"dsmfs other /mnt --peer h", "dsmfs other /mnt --peer h"},
		{"dsmfs mount --pe --generate-bash-completion", "dsmfs mount --pe --generate-bash-completion"},
		{"dsmfs mount -- --generate-bash-completion", "dsmfs mount - --generate-bash-completion"},
	} {
		if got := strings.Join(FlagsFirst(app, strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("FlagsFirst(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestWatchParses: the optional flag alone, with a value after it, and
// with "=" all parse, in either place relative to the argument.
func TestWatchParses(t *testing.T) {
	for args, want := range map[string]time.Duration{
		"/mnt --watch":                  time.Second,
		"--watch /mnt":                  time.Second,
		"/mnt --watch 200ms":            200 * time.Millisecond,
		"/mnt --watch=3s":               3 * time.Second,
		"/mnt":                          0,
		"/mnt --allow-other":            0,
		"--watch 2s /mnt --allow-other": 2 * time.Second,
	} {
		var got time.Duration
		var mnt string
		app := testApp(func(c *cli.Context) error {
			got, mnt = c.Generic("watch").(*OptionalDuration).Value, c.Args().First()
			return nil
		})
		if err := app.Run(FlagsFirst(app, append([]string{"dsmfs", "mount"}, strings.Fields(args)...))); err != nil || got != want || mnt != "/mnt" {
			t.Errorf("%q: watch %v, argument %q, error %v; want %v and /mnt", args, got, mnt, err, want)
		}
	}
}

// TestUsageErrorsAreOneLine: a bad flag or command is one line with
// double-dash flag names and a guess, and exits 2.
func TestUsageErrorsAreOneLine(t *testing.T) {
	for args, want := range map[string]string{
		"mount --lisen x /mnt":   "flag provided but not defined: --lisen; did you mean --listen? (dsmfs mount --help lists the flags)",
		"mount /mnt --watch=abc": `invalid value "abc" for --watch`,
		"mount /mnt --peer":      "flag needs an argument: --peer",
		"moutn /mnt":             `"moutn" is not a command; did you mean "mount"?`,
	} {
		var out strings.Builder
		app := testApp(func(*cli.Context) error { return nil })
		app.Writer, app.ErrWriter = &out, &out
		err := app.Run(FlagsFirst(app, append([]string{"dsmfs"}, strings.Fields(args)...)))
		var usage *UsageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") || ExitCode(err) != 2 {
			t.Errorf("%q: got %v, want one line containing %q and exit code 2", args, err, want)
		}
		if out.Len() > 0 {
			t.Errorf("%q: printed %q besides the error", args, out.String())
		}
	}
	if ExitCode(errors.New("other")) != 1 {
		t.Error("other failures should exit 1")
	}
}

func TestOptionalDuration(t *testing.T) {
	d := &OptionalDuration{Default: time.Second}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Var(d, "watch", "")
	if err := fs.Parse([]string{"--watch"}); err != nil || d.Value != time.Second {
		t.Fatalf("alone: %v %v", d.Value, err)
	}
	for _, bad := range []string{"0s", "-1s", "soon"} {
		if err := d.Set(bad); err == nil {
			t.Errorf("Set(%q) succeeded", bad)
		}
	}
	if !d.Accepts("1m") || d.Accepts("/mnt") || !d.IsBoolFlag() {
		t.Error("Accepts or IsBoolFlag wrong")
	}
}

// TestApplyOptions: -o lists set flags by name, _ standing for -, values
// and repeats included; mount(8)'s own options pass; the rest is refused.
func TestApplyOptions(t *testing.T) {
	var got []string
	app := testApp(func(c *cli.Context) error {
		if err := ApplyOptions(c, c.StringSlice("o")); err != nil {
			return err
		}
		got = []string{fmt.Sprint(c.StringSlice("peer")), c.String("listen"), fmt.Sprint(c.Bool("allow-other")), fmt.Sprint(c.IsSet("listen"))}
		return nil
	})
	app.Commands[0].Flags = append(app.Commands[0].Flags, &cli.StringSliceFlag{Name: "o"})
	run := func(args ...string) error {
		return app.Run(FlagsFirst(app, append([]string{"dsmfs", "mount", "/mnt"}, args...)))
	}
	if err := run("-o", "rw,_netdev,peer=a:1,allow_other,x-systemd.automount", "-o", "peer=b:2,listen=:7071"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"[a:1 b:2]", ":7071", "true", "true"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for opts, want := range map[string]string{
		"lisen=:1":      "-o lisen=:1: no such mount option; did you mean listen?",
		"ro":            "-o ro: the segment cannot be mounted read-only",
		"listen":        "-o listen: the option needs a value (listen=...)",
		"allow_other=1": "-o allow_other=1: the option takes no value",
		"o=x":           "-o o=x: no such mount option",
	} {
		if err := run("-o", opts); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("-o %s: got %v, want %q", opts, err, want)
		}
	}
}
