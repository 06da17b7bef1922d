package service

import (
	stdnet "net"
	"os"
	"strings"
)

// Notify sends state, such as "READY=1" or "STATUS=joining", to the
// service manager that started this process, as sd_notify(3) does: one
// datagram to the socket $NOTIFY_SOCKET names (a name starting with @ is
// in the abstract namespace, which Go's net handles). Without one it does
// nothing. A status may not span lines: each line is an assignment.
func Notify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	c, err := stdnet.DialUnix("unixgram", nil, &stdnet.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// Status is a STATUS= assignment for Notify: s on one line.
func Status(s string) string {
	return "STATUS=" + strings.Join(strings.Fields(s), " ")
}

// failedPrefix starts the STATUS= of a daemon that gives up.
const failedPrefix = "failed: "

// Failure is the Notify state of a daemon that gives up because of err:
// the service manager shows it, and Background returns it.
func Failure(err error) string { return Status(failedPrefix + err.Error()) }
