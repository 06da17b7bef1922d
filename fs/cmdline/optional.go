package cmdline

import (
	"fmt"
	"time"
)

// Optional is a flag value that may be left out: `--watch` alone means
// its default, `--watch 200ms` or `--watch=200ms` the value given. Go's
// flag package takes it like a boolean flag (IsBoolFlag), so only the
// `=` form reaches it with a value; FlagsFirst joins the other form.
type Optional interface {
	IsBoolFlag() bool
	// Accepts reports whether s is a value for the flag, rather than
	// the next argument.
	Accepts(s string) bool
}

// OptionalDuration is a duration flag whose value may be left out; use it
// as a cli.GenericFlag's Value. It is zero until the flag is given.
type OptionalDuration struct {
	Default time.Duration // what the flag alone means
	Value   time.Duration
}

// IsBoolFlag lets the flag stand alone.
func (d *OptionalDuration) IsBoolFlag() bool { return true }

// Accepts reports whether s is a duration such as 200ms.
func (d *OptionalDuration) Accepts(s string) bool {
	_, err := time.ParseDuration(s)
	return err == nil
}

// Set takes a value, or "true" when the flag stands alone.
func (d *OptionalDuration) Set(s string) error {
	if s == "true" {
		d.Value = d.Default
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("%q is not a positive duration such as 1s or 200ms", s)
	}
	d.Value = v
	return nil
}

func (d *OptionalDuration) String() string {
	if d == nil || d.Value == 0 {
		return ""
	}
	return d.Value.String()
}
