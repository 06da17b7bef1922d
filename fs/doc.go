// Package fs is the FUSE face of a dsmfs node, built on go-fuse: it shows the
// file `segment`, whose READ and WRITE requests it turns into page accesses
// on the owner.Node and whose flock/fcntl locks it forwards to the node, and
// the special files `.owners`, `.cluster-owners` and `.stats`, in a tree
// that refuses every change of its names and attributes; it implements
// owner.Kernel by asking the kernel to drop cached pages, and preloads the
// pages a node owns at start into the page cache.
//
// A node mounts (Check, then Mount) before it joins the cluster, so that
// one that cannot mount never joins, and serves its files only once it has
// joined (Serve). Subpackages: report (what a node says about itself),
// cmdline (the command line), service (systemd, --daemon, logs).
//
// It holds no protocol state. It must never notify the kernel from inside a
// FUSE request handler (the kernel's write-back of dirty pages arrives as
// requests that must be served while the notification waits), and never use
// direct I/O on `segment`, which mmap needs cached.
package fs
