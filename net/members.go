package net

import (
	"fmt"
	stdnet "net"
	"os"
	"slices"
	"strconv"
)

// MemberNames gives this node's name and the sorted names of all members,
// from the listen address, the name to advertise (if any) and the peers. A
// name is HOST:PORT, as peers dial it; defaultPort fills in one missing.
// Every address is checked here, at once: a peer's port out of range
// would otherwise only show as a failed dial at the end of the join
// timeout.
func MemberNames(listen, advertise string, peers []string, defaultPort string) (string, []string, error) {
	host, port, err := stdnet.SplitHostPort(listen)
	if err != nil {
		return "", nil, fmt.Errorf("--listen %q: %w", listen, err)
	}
	if err := checkPort("--listen", listen, port); err != nil {
		return "", nil, err
	}
	self := advertise
	if self == "" {
		if ip := stdnet.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			if host, err = os.Hostname(); err != nil {
				return "", nil, fmt.Errorf("naming this node (give --advertise): %w", err)
			}
		}
		self = stdnet.JoinHostPort(host, port)
	}
	if self, err = memberAddr("--advertise", self, defaultPort); err != nil {
		return "", nil, err
	}
	members := []string{self}
	for _, p := range peers {
		if p, err = memberAddr("--peer", p, defaultPort); err != nil {
			return "", nil, err
		}
		if p == self {
			return "", nil, fmt.Errorf("--peer %s is this node itself", p)
		}
		if slices.Contains(members, p) {
			return "", nil, fmt.Errorf("--peer %s given twice", p)
		}
		members = append(members, p)
	}
	slices.Sort(members)
	return self, members, nil
}

// memberAddr is a member's name, HOST:PORT, from what flag gave: a host,
// with defaultPort if it names no port.
func memberAddr(flag, addr, defaultPort string) (string, error) {
	if _, _, err := stdnet.SplitHostPort(addr); err != nil {
		addr = stdnet.JoinHostPort(addr, defaultPort)
	}
	host, port, err := stdnet.SplitHostPort(addr)
	switch {
	case err != nil:
		return "", fmt.Errorf("%s %q: %w", flag, addr, err)
	case host == "":
		return "", fmt.Errorf("%s %q names no host", flag, addr)
	}
	return addr, checkPort(flag, addr, port)
}

// checkPort refuses a port that is not a number from 1 to 65535: peers
// dial members by number, and port 0 would listen where nobody can find
// this node.
func checkPort(flag, addr, port string) error {
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s %s: port %q is not a number from 1 to 65535", flag, addr, port)
	}
	return nil
}
