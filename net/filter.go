package net

import (
	"context"
	stdnet "net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/dsmfs/dsmfs/owner"
)

// Without a secret or TLS, nothing proves who is on the other end of a
// connection but the address it comes from. So the accepting side takes a
// connection only from an address of a member, and, once its Hello names
// the member, only from an address of that member; anything else is
// closed before a byte is sent.
//
// An address is a host's IP address: a connection comes from an arbitrary
// port, so the port of a member's name says nothing. A member's addresses
// are those its name's host resolves to. A connection from this machine
// itself (a loopback address, or one of this machine's own) comes from
// every member whose name resolves to this machine: on one machine, as in
// the demo and the tests, where every member is 127.0.0.1 with its own
// port, the filter keeps out other machines only, not other local
// processes.

// resolveEvery is how long resolved member addresses, and this machine's
// own, are trusted before they are looked up again.
const resolveEvery = 5 * time.Second

// addrFilter knows the members' addresses.
type addrFilter struct {
	names []string // by NodeID
	self  owner.NodeID

	mu    sync.Mutex
	addrs [][]netip.Addr // guarded by mu: by NodeID, as last resolved
	local []netip.Addr   // guarded by mu: this machine's addresses
	at    time.Time      // guarded by mu: when addrs and local were looked up
}

func newAddrFilter(names []string, self owner.NodeID) *addrFilter {
	return &addrFilter{names: names, self: self}
}

// remoteAddr is the IP address a connection comes from.
func remoteAddr(c stdnet.Conn) (netip.Addr, bool) {
	ta, ok := c.RemoteAddr().(*stdnet.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	return ta.AddrPort().Addr().Unmap(), true
}

// fromMember reports whether c comes from the address of a member other
// than this node.
func (f *addrFilter) fromMember(ctx context.Context, c stdnet.Conn) bool {
	remote, ok := remoteAddr(c)
	if !ok {
		return false
	}
	addrs, local := f.lookup(ctx)
	for id := range addrs {
		if owner.NodeID(id) != f.self && matches(addrs[id], local, remote) {
			return true
		}
	}
	return false
}

// from reports whether c comes from an address of the member called name.
func (f *addrFilter) from(ctx context.Context, c stdnet.Conn, name string) bool {
	remote, ok := remoteAddr(c)
	id := slices.Index(f.names, name)
	if !ok || id < 0 {
		return false
	}
	addrs, local := f.lookup(ctx)
	return matches(addrs[id], local, remote)
}

// matches reports whether remote is one of a member's addresses, or both
// are on this machine.
func matches(member, local []netip.Addr, remote netip.Addr) bool {
	isLocal := func(a netip.Addr) bool { return a.IsLoopback() || slices.Contains(local, a) }
	return slices.Contains(member, remote) || isLocal(remote) && slices.ContainsFunc(member, isLocal)
}

// lookup returns the members' addresses and this machine's, looked up
// again if they are older than resolveEvery. A name that does not resolve
// has no address: nothing comes from it.
func (f *addrFilter) lookup(ctx context.Context) ([][]netip.Addr, []netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addrs != nil && time.Since(f.at) < resolveEvery {
		return f.addrs, f.local
	}
	addrs := make([][]netip.Addr, len(f.names))
	for id, name := range f.names {
		host, _, err := stdnet.SplitHostPort(name)
		if err != nil {
			continue
		}
		ips, _ := stdnet.DefaultResolver.LookupNetIP(ctx, "ip", host)
		for _, ip := range ips {
			addrs[id] = append(addrs[id], ip.Unmap())
		}
	}
	var local []netip.Addr
	ifaddrs, _ := stdnet.InterfaceAddrs()
	for _, a := range ifaddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			local = append(local, p.Addr().Unmap())
		}
	}
	if ctx.Err() == nil { // else some names may not have resolved in time
		f.addrs, f.local, f.at = addrs, local, time.Now()
	}
	return addrs, local
}
