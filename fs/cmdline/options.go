package cmdline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// mountOwn are mount(8)'s own options, which fstab lines and `mount -t
// fuse.dsmfs` pass along and which mean nothing to the daemon.
var mountOwn = []string{
	"rw", "defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group",
	"_netdev", "nofail", "suid", "nosuid", "dev", "nodev", "exec", "noexec",
	"async", "atime", "noatime", "relatime", "strictatime", "nodiratime",
}

// ApplyOptions sets the command's flags from mount options, each list
// `opt[,opt=value]` as `-o` gives it, the way sshfs and rclone take them:
// `opt=value` sets --opt to value, a bare `opt` sets the boolean flag
// --opt, and `_` in a name stands for `-` (`peer_timeout=5s`,
// `allow_other`). A flag that repeats (peer) may repeat. mount(8)'s own
// options are left alone; anything else, or `ro`, is an error naming it.
func ApplyOptions(c *cli.Context, lists []string) error {
	flags := map[string]cli.Flag{}
	for _, f := range c.Command.Flags {
		for _, name := range f.Names() {
			flags[name] = f
		}
	}
	for _, list := range lists {
		for _, opt := range strings.Split(list, ",") {
			key, value, hasValue := strings.Cut(opt, "=")
			switch {
			case opt == "" || slices.Contains(mountOwn, opt) || strings.HasPrefix(opt, "x-") || key == "comment":
				continue
			case opt == "ro":
				return fmt.Errorf("-o ro: the segment cannot be mounted read-only")
			}
			name := strings.ReplaceAll(key, "_", "-")
			f, ok := flags[name]
			if !ok || name == "o" || name == "help" {
				return fmt.Errorf("-o %s: no such mount option%s", opt, suggest(c.Command.Flags, name, optionName))
			}
			tv, ok := f.(interface{ TakesValue() bool })
			takesValue := ok && tv.TakesValue()
			switch {
			case takesValue && !hasValue:
				return fmt.Errorf("-o %s: the option needs a value (%s=...)", opt, key)
			case !takesValue && hasValue:
				return fmt.Errorf("-o %s: the option takes no value", opt)
			case !hasValue:
				value = "true"
			}
			if err := c.Set(name, value); err != nil {
				return fmt.Errorf("-o %s: %v", opt, err)
			}
		}
	}
	return nil
}

// optionName writes a flag's name as a mount option.
func optionName(flag string) string { return strings.ReplaceAll(flag, "-", "_") }
