//go:build unix

package ring

import (
	"errors"

	"golang.org/x/sys/unix"
)

// processAlive reports whether pid names a live process. A pid we may not
// signal (EPERM) exists.
func processAlive(pid uint32) bool {
	if pid == 0 || pid > 1<<22 {
		return false
	}
	err := unix.Kill(int(pid), 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
