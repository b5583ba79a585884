package arena

// Liveness locks: a handle on something in the arena (a ring's peer entry,
// say) proves it is alive by holding a lock on one byte of the arena file
// that the kernel keeps for it. The kernel drops the lock when the lock's
// open file description is closed, so when the holder's process dies,
// however it dies (SIGKILL included), the lock is gone at once: no
// heartbeat, no background thread, and no pid that can be reused or that
// names another process in another pid namespace. This is the mechanism
// iceoryx2 uses (with files) and the one docs/layout.md specifies for C
// peers: an open-file-description write lock (F_OFD_SETLK, Linux 3.15+)
// of length 1 at the byte's file offset.
//
// Each Arena handle takes its locks through a second open file description
// of the file, opened on first use, and tests them through its main one:
// OFD locks conflict between descriptions, not between processes, so a
// test from this handle sees the locks of this handle's own holders, of
// other handles in this process and of other processes alike.

import (
	"errors"
	"fmt"
)

// ErrUnsupported: the platform has no open-file-description locks (only
// Linux has them); callers fall back to another liveness test. It matches
// errors.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("arena: liveness locks: %w", errors.ErrUnsupported)

// LiveLock is a held liveness lock on one byte of the arena file.
type LiveLock struct {
	a   *Arena
	off int64
}

// LockLive takes a liveness lock on byte off of the arena file. It fails
// with ErrBusy if another open file description holds a lock on that byte
// (the thing it stands for is alive), ErrClosed after Close, ErrInvalid
// for an offset outside the file, and ErrUnsupported where the platform
// has no such locks. Arena.Close releases every lock the handle holds.
func (a *Arena) LockLive(off int64) (*LiveLock, error) {
	if off < 0 || off >= a.g.size {
		return nil, fmt.Errorf("%w: liveness byte %d outside the arena's %d bytes", ErrInvalid, off, a.g.size)
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return nil, ErrClosed
	}
	if err := a.lockByte(off); err != nil {
		return nil, err
	}
	return &LiveLock{a: a, off: off}, nil
}

// Unlock releases the lock. It is idempotent, and a no-op once the arena
// handle is closed (closing released it).
func (l *LiveLock) Unlock() error {
	if l == nil || l.a == nil {
		return nil
	}
	a := l.a
	l.a = nil
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return nil
	}
	return a.unlockByte(l.off)
}

// Offset is the file offset of the locked byte.
func (l *LiveLock) Offset() int64 { return l.off }

// LiveLocked reports whether any open file description holds a liveness
// lock on a byte of [off, off+n) of the arena file: whether what those
// bytes stand for is alive. It makes one fcntl system call.
func (a *Arena) LiveLocked(off, n int64) (bool, error) {
	if off < 0 || n <= 0 || off > a.g.size-n {
		return false, fmt.Errorf("%w: liveness bytes [%d,+%d) outside the arena's %d bytes", ErrInvalid, off, n, a.g.size)
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return false, ErrClosed
	}
	return a.testBytes(off, n)
}
