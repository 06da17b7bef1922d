// Package cmdline takes dsmfs's command line as people, mount(8) and fstab
// write it, and hands it to urfave/cli in the form it parses: flags after
// the mount point, `-o opt[,opt=value]` mount options, flags whose value
// may be left out (`--watch`), and usage errors as one line with a hint.
//
// It knows the commands only through their urfave/cli definitions, and
// nothing of FUSE, the network or the protocol.
package cmdline
