package service

import (
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
)

// Logger is the daemon's log: to file if one is given (appended to), else
// to syslog in the background (InBackground), where there is no stderr to
// read, else to stderr; at level (debug, info, warn, error), as text or
// json (log/slog).
func Logger(level, format, file string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	if format != "text" && format != "json" {
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	var w io.Writer = os.Stderr
	switch {
	case file != "":
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, fmt.Errorf("--log-file: %w", err)
		}
		w = f // open for the life of the process
	case InBackground():
		s, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "dsmfs")
		if err != nil {
			return nil, fmt.Errorf("cannot log to syslog (%v): give --log-file", err)
		}
		w = s
	}
	return newLogger(w, l, format), nil
}

// newLogger is a slog.Logger writing one record per Write to w, as a
// syslog writer wants.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
