//go:build linux

package bench

import "golang.org/x/sys/unix"

// socketpair makes a close-on-exec AF_UNIX socket pair of type typ.
func socketpair(typ int) ([2]int, error) {
	return unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
}
