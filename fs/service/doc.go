// Package service runs a dsmfs mount the way service managers and users
// of sshfs or rclone expect: it tells systemd when the mount is ready
// (sd_notify, Type=notify), runs the daemon in the background and returns
// once it is mounted and joined (--daemon), and logs to a file or to
// syslog.
//
// It knows nothing of FUSE, the network or the protocol: the daemon says
// what state it is in, and this package passes it on.
package service
