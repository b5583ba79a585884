//go:build unix && !linux

package bench

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// socketpair makes an AF_UNIX socket pair of type typ, marked close-on-exec
// under the fork lock (no SOCK_CLOEXEC here).
func socketpair(typ int) ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ, 0)
	if err != nil {
		return fds, err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return fds, nil
}
