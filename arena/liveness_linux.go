//go:build linux

package arena

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// holdFile returns the handle's second open file description, opening it
// on first use. The caller holds a.mu (shared) and, except in
// LiveLocksSupported, a.holdMu.
//
// It is opened through /proc/self/fd/N, which reaches the same inode even
// if the path was unlinked or replaced since; without /proc it opens the
// path again and checks that it is still the same file.
func (a *Arena) holdFile() (*os.File, error) {
	if a.hold != nil {
		return a.hold, nil
	}
	flags := unix.O_RDWR | unix.O_CLOEXEC | unix.O_NOCTTY
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", a.f.Fd()), flags, 0)
	if err != nil {
		fd, err = unix.Open(a.path, flags|unix.O_NOFOLLOW, 0)
		if err != nil {
			return nil, fmt.Errorf("arena: liveness locks: open %s again: %w", a.path, err)
		}
		var st, want unix.Stat_t
		if unix.Fstat(fd, &st) != nil || unix.Fstat(int(a.f.Fd()), &want) != nil || st.Dev != want.Dev || st.Ino != want.Ino {
			unix.Close(fd)
			return nil, fmt.Errorf("arena: liveness locks: %s is no longer this arena's file and /proc is not there to reach it", a.path)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("arena: liveness locks: %w", err)
	}
	a.fid = fileID{uint64(st.Dev), uint64(st.Ino)}
	// An *os.File: if the Arena is dropped without Close, the finalizer
	// closes it and the kernel drops the locks.
	a.hold = os.NewFile(uintptr(fd), a.path+" (liveness locks)")
	return a.hold, nil
}

// lockByte takes the lock; the caller holds a.mu (shared) and a.holdMu.
func (a *Arena) lockByte(off int64) error {
	f, err := a.holdFile()
	if err != nil {
		return err
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	for {
		err = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
		if err != unix.EINTR {
			break
		}
	}
	switch err {
	case nil:
		ownBytes.add(a.fid, off)
		return nil
	case unix.EAGAIN, unix.EACCES:
		return fmt.Errorf("%w: byte %d, by another handle", ErrHeld, off)
	case unix.EINVAL:
		return errNoLiveLocks // a kernel before 3.15
	}
	return fmt.Errorf("arena: liveness lock at %d: %w", off, err)
}

// unlockByte releases it; the caller holds a.mu (shared) and a.holdMu.
func (a *Arena) unlockByte(off int64) error {
	if a.hold == nil {
		return nil
	}
	ownBytes.remove(a.fid, off)
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: off, Len: 1}
	for {
		err := unix.FcntlFlock(a.hold.Fd(), unix.F_OFD_SETLK, &lk)
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
		return false, errNoLiveLocks
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
	for off := range a.held {
		ownBytes.remove(a.fid, off)
	}
	a.held = nil
	if a.hold == nil {
		return nil
	}
	err := a.hold.Close()
	a.hold = nil
	return err
}

// checkNotInUse returns ErrInUse if a description of another process holds
// a liveness lock in the file at p. It looks at the file's lock list with
// F_OFD_GETLK, range by range: a conflict that is one of this process's
// own bytes (ownBytes) splits the range around it; any other is another
// process's. A file it cannot open or stat is left to Unlink to report.
func checkNotInUse(p string) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size <= 0 {
		return nil
	}
	fid := fileID{uint64(st.Dev), uint64(st.Ino)}
	type span struct{ off, n int64 }
	work := []span{{0, st.Size}}
	for steps := 0; len(work) > 0; steps++ {
		if steps > 1<<16 {
			return fmt.Errorf("%w: %s: too many liveness locks to check", ErrInUse, p)
		}
		r := work[len(work)-1]
		work = work[:len(work)-1]
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: r.off, Len: r.n}
		var err error
		for {
			err = unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk)
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			return nil // no OFD locks here: nothing can be seen
		}
		if lk.Type == unix.F_UNLCK {
			continue
		}
		s, n := lk.Start, lk.Len
		if n != 1 || !ownBytes.has(fid, s) {
			return fmt.Errorf("%w: %s: a live handle of another process holds a liveness lock at byte %d (close it, or remove WithForce)", ErrInUse, p, s)
		}
		if s > r.off {
			work = append(work, span{r.off, s - r.off})
		}
		if end := r.off + r.n; s+1 < end {
			work = append(work, span{s + 1, end - s - 1})
		}
	}
	return nil
}
