// Package fs is the FUSE face of a dsmfs node, built on go-fuse: it shows the
// file `segment`, whose READ and WRITE requests it turns into page accesses
// on the owner.Node, and the special file `.owners`; and it implements
// owner.Kernel by asking the kernel to drop cached pages.
//
// It holds no protocol state. It must never notify the kernel from inside a
// FUSE request handler (the kernel's write-back of dirty pages arrives as
// requests that must be served while the notification waits), and never use
// direct I/O on `segment`, which mmap needs cached.
package fs
