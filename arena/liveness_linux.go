//go:build linux

package arena

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// holdFD returns the handle's second open file description, opening it on
// first use through /proc/self/fd, which reaches the same inode even if
// the path was unlinked or replaced since. The caller holds a.mu (shared).
func (a *Arena) holdFD() (int, error) {
	a.holdMu.Lock()
	defer a.holdMu.Unlock()
	if a.hold >= 0 {
		return a.hold, nil
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", a.f.Fd()), unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return -1, fmt.Errorf("arena: liveness locks: reopen %s: %w", a.path, err)
	}
	a.hold = fd
	return fd, nil
}

func (a *Arena) lockByte(off int64) error {
	fd, err := a.holdFD()
	if err != nil {
		return err
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	for {
		err = unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk)
		if err != unix.EINTR {
			break
		}
	}
	switch err {
	case nil:
		return nil
	case unix.EAGAIN, unix.EACCES:
		return fmt.Errorf("%w: liveness byte %d is held by another holder", ErrBusy, off)
	case unix.EINVAL:
		return ErrUnsupported // a kernel before 3.15
	}
	return fmt.Errorf("arena: liveness lock at %d: %w", off, err)
}

func (a *Arena) unlockByte(off int64) error {
	a.holdMu.Lock()
	fd := a.hold
	a.holdMu.Unlock()
	if fd < 0 {
		return nil
	}
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: off, Len: 1}
	for {
		err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk)
		if err != unix.EINTR {
			return err
		}
	}
}

func (a *Arena) testBytes(off, n int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: n}
	var err error
	for {
		err = unix.FcntlFlock(a.f.Fd(), unix.F_OFD_GETLK, &lk)
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.EINVAL {
		return false, ErrUnsupported
	}
	if err != nil {
		return false, fmt.Errorf("arena: liveness test at %d: %w", off, err)
	}
	return lk.Type != unix.F_UNLCK, nil
}

// closeHold closes the second description, which releases every liveness
// lock of the handle. The caller holds a.mu exclusively.
func (a *Arena) closeHold() error {
	a.holdMu.Lock()
	defer a.holdMu.Unlock()
	if a.hold < 0 {
		return nil
	}
	err := unix.Close(a.hold)
	a.hold = -1
	return err
}
