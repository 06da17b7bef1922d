package cmdline

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// UsageError is a command line that does not parse: one line saying what
// is wrong, and a hint where to look, in place of urfave/cli's whole help.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ExitCode is 2 for a usage error, as for most Unix commands, and 1 for
// any other failure.
func ExitCode(err error) int {
	var usage *UsageError
	if errors.As(err, &usage) {
		return 2
	}
	return 1
}

// flagName finds the flags Go's flag package names with one dash.
var flagName = regexp.MustCompile(`(^|[ :])-([a-zA-Z][a-zA-Z0-9-]+)`)

// OnUsageError is a cli.OnUsageErrorFunc: the error as one line, flags
// spelt with two dashes as the help spells them, with a guess at the flag
// meant ("did you mean") and where the flags are listed.
func OnUsageError(c *cli.Context, err error, _ bool) error {
	// An Optional flag parses as a boolean one, but its value is not.
	msg := strings.Replace(err.Error(), "invalid boolean value", "invalid value", 1)
	msg = flagName.ReplaceAllString(msg, "$1--$2")
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		msg += suggest(c.Command.Flags, name, func(f string) string { return "--" + f })
	}
	return &UsageError{Msg: fmt.Sprintf("%s (%s --help lists the flags)", msg, c.Command.HelpName)}
}

// CommandNotFound is the root's Action: the first argument names no
// command.
func CommandNotFound(c *cli.Context) error {
	if !c.Args().Present() {
		return cli.ShowAppHelp(c)
	}
	name := c.Args().First()
	msg := fmt.Sprintf("%q is not a command", name)
	if cli.SuggestCommand != nil {
		if s := cli.SuggestCommand(c.App.Commands, name); s != "" {
			msg += "; " + strings.ToLower(s[:1]) + s[1:]
		}
	}
	return &UsageError{Msg: msg + " (dsmfs help lists the commands)"}
}

// NeedArgs checks that a command got want positional arguments.
func NeedArgs(c *cli.Context, want int, what string) error {
	if c.NArg() == want {
		return nil
	}
	return &UsageError{Msg: fmt.Sprintf("%s needs %s, got %d arguments (%s --help)", c.Command.Name, what, c.NArg(), c.Command.HelpName)}
}

// suggest is "; did you mean X?" for the flag closest to name, spelt by
// spell, or "" if there is none.
func suggest(flags []cli.Flag, name string, spell func(string) string) string {
	if cli.SuggestFlag == nil {
		return ""
	}
	s := strings.TrimLeft(cli.SuggestFlag(flags, name, true), "-")
	if s == "" || s == "o" {
		return ""
	}
	return fmt.Sprintf("; did you mean %s?", spell(s))
}
