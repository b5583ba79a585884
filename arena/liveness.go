package arena

// Liveness locks: a handle on something in the arena (a ring's peer entry,
// say) proves it is alive by holding a lock on one byte of the arena file
// that the kernel keeps for it. The kernel drops the lock when the lock's
// open file description is closed, so when the holder's process dies,
// however it dies (SIGKILL included), the lock is gone at once: no
// heartbeat, no background thread, and no pid that can be reused or that
// names another process in another pid namespace. This is the mechanism
// iceoryx2 uses (with files) and the one docs/ring.md specifies for C
// peers: an open-file-description write lock (F_OFD_SETLK, Linux 3.15+)
// of length 1 at the byte's file offset.
//
// Each Arena handle takes its locks through a second open file description
// of the file, opened on first use, and tests them through its main one:
// OFD locks conflict between descriptions, not between processes, so a
// test from this handle sees the locks of this handle's own holders, of
// other handles in this process and of other processes alike. Locks taken
// through one description never conflict with each other, so the handle
// also keeps the set of bytes it holds and refuses a second holder of one
// itself.

import (
	"fmt"
	"sync"
)

// LiveLock is a held liveness lock on one byte of the arena file.
type LiveLock struct {
	a   *Arena
	off int64
}

// LiveLocksSupported reports whether this handle can take and test
// liveness locks: the platform has them and the file could be opened a
// second time. On a ReadOnly handle, which takes none, it reports whether
// it can test them.
func (a *Arena) LiveLocksSupported() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.usable() != nil {
		return false
	}
	if _, err := a.testBytes(0, 1); err != nil {
		return false
	}
	if a.o.readOnly {
		return true
	}
	a.holdMu.Lock()
	defer a.holdMu.Unlock()
	_, err := a.holdFile()
	return err == nil
}

// LockLive takes a liveness lock on byte off of the arena file. It fails
// with ErrHeld if another holder has the byte (another handle, or an
// earlier LockLive of this one that is not yet unlocked), ErrClosed after
// Close, ErrTruncated once CheckSize found the file truncated, ErrInvalid
// for an offset outside the file, and ErrUnsupported where the platform
// has no such locks. Arena.Close, and a truncation CheckSize finds,
// release every lock the handle holds.
func (a *Arena) LockLive(off int64) (*LiveLock, error) {
	if a.o.readOnly {
		return nil, fmt.Errorf("%w: cannot take a liveness lock", ErrReadOnly)
	}
	if off < 0 || off >= a.g.size {
		return nil, fmt.Errorf("%w: liveness byte %d outside the arena's %d bytes", ErrInvalid, off, a.g.size)
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.usable(); err != nil {
		return nil, err
	}
	a.holdMu.Lock()
	defer a.holdMu.Unlock()
	if _, mine := a.held[off]; mine {
		return nil, fmt.Errorf("%w: byte %d, by this arena handle", ErrHeld, off)
	}
	if err := a.lockByte(off); err != nil {
		return nil, err
	}
	if a.held == nil {
		a.held = map[int64]struct{}{}
	}
	a.held[off] = struct{}{}
	return &LiveLock{a: a, off: off}, nil
}

// Unlock releases the lock. It is idempotent, and a no-op once the arena
// handle is closed or broken by a truncation (either released it).
func (l *LiveLock) Unlock() error {
	if l == nil || l.a == nil {
		return nil
	}
	a := l.a
	l.a = nil
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.usable() != nil {
		return nil // closing, or breaking on a truncation, closed the description and released it
	}
	a.holdMu.Lock()
	defer a.holdMu.Unlock()
	delete(a.held, l.off)
	return a.unlockByte(l.off)
}

// Offset is the file offset of the locked byte.
func (l *LiveLock) Offset() int64 { return l.off }

// LiveLocked reports whether any holder has a liveness lock on a byte of
// [off, off+n) of the arena file: whether what those bytes stand for is
// alive. It makes one fcntl system call.
func (a *Arena) LiveLocked(off, n int64) (bool, error) {
	if off < 0 || n <= 0 || off > a.g.size-n {
		return false, fmt.Errorf("%w: liveness bytes [%d,+%d) outside the arena's %d bytes", ErrInvalid, off, n, a.g.size)
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.usable(); err != nil {
		return false, err
	}
	return a.testBytes(off, n)
}

// fileID names a file by device and inode.
type fileID struct{ dev, ino uint64 }

// ownBytes is every liveness byte this process's Arena handles hold, so
// that Remove can tell this process's locks from others' (the kernel's
// lock list does not name the holder of an OFD lock).
var ownBytes = ownSet{m: map[fileID]map[int64]int{}}

type ownSet struct {
	mu sync.Mutex
	m  map[fileID]map[int64]int
}

func (s *ownSet) add(f fileID, off int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[f] == nil {
		s.m[f] = map[int64]int{}
	}
	s.m[f][off]++
}

func (s *ownSet) remove(f fileID, off int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[f][off]--; s.m[f][off] <= 0 {
		delete(s.m[f], off)
		if len(s.m[f]) == 0 {
			delete(s.m, f)
		}
	}
}

func (s *ownSet) has(f fileID, off int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[f][off] > 0
}
