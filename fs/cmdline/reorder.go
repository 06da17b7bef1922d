package cmdline

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// FlagsFirst moves a command's positional arguments after its flags, so
// that `dsmfs mount /mnt/dsm --peer host` works: urfave/cli stops reading
// flags at the first positional argument. A flag whose value may be left
// out (Optional) takes the next argument only if that is a value for it.
func FlagsFirst(app *cli.App, args []string) []string {
	if n := len(args); n > 0 && args[n-1] == "--generate-bash-completion" {
		// Completion wants its flag last. A word "--" being completed
		// would end the flags, and run the command: "-" asks the same.
		if n > 2 && args[n-2] == "--" {
			return append(slices.Clone(args[:n-2]), "-", args[n-1])
		}
		return args
	}
	if len(args) < 3 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil || cmd.SkipFlagParsing {
		return args
	}
	takesValue := map[string]bool{}
	optional := map[string]Optional{}
	for _, f := range cmd.Flags {
		tv, ok := f.(interface{ TakesValue() bool })
		for _, name := range f.Names() {
			takesValue[name] = ok && tv.TakesValue()
			if g, ok := f.(*cli.GenericFlag); ok {
				if o, ok := g.Value.(Optional); ok {
					optional[name] = o
				}
			}
		}
	}
	var flags, positional []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			name := strings.TrimLeft(a, "-")
			hasValue := strings.Contains(name, "=")
			if o, ok := optional[name]; ok && !hasValue {
				if i+1 < len(rest) && o.Accepts(rest[i+1]) {
					i++
					a += "=" + rest[i]
				}
				flags = append(flags, a)
				continue
			}
			flags = append(flags, a)
			if !hasValue && takesValue[name] {
				if i+1 == len(rest) {
					// Last, with no value: let the parser say so,
					// rather than take "--" for the value.
					return append(slices.Clone(args[:2]), flags...)
				}
				i++
				flags = append(flags, rest[i])
			}
		default:
			positional = append(positional, a)
		}
	}
	out := append(slices.Clone(args[:2]), flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}
