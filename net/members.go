package net

import (
	"fmt"
	stdnet "net"
	"os"
	"slices"
)

// MemberNames gives this node's name and the sorted names of all members,
// from the listen address, the name to advertise (if any) and the peers. A
// name is HOST:PORT, as peers dial it; defaultPort fills in one missing.
func MemberNames(listen, advertise string, peers []string, defaultPort string) (string, []string, error) {
	self := advertise
	if self == "" {
		host, port, err := stdnet.SplitHostPort(listen)
		if err != nil {
			return "", nil, fmt.Errorf("--listen %q: %w", listen, err)
		}
		if ip := stdnet.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			if host, err = os.Hostname(); err != nil {
				return "", nil, fmt.Errorf("naming this node (give --advertise): %w", err)
			}
		}
		self = stdnet.JoinHostPort(host, port)
	}
	self = withPort(self, defaultPort)
	members := []string{self}
	for _, p := range peers {
		p = withPort(p, defaultPort)
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

func withPort(hostport, defaultPort string) string {
	if _, _, err := stdnet.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return stdnet.JoinHostPort(hostport, defaultPort)
}
