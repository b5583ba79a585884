package arena

// Truncation under a live mapping. Any process that may write the arena
// file can ftruncate it; the pages past the new end are then gone for
// every process that maps it, and the kernel answers an access to one of
// them with SIGBUS, which the Go runtime turns into a fatal "fault" (it is
// not a panic: nothing can recover it). Validation cannot prevent this:
// the file's length is not in shared memory, and nothing tells a mapping
// that its file shrank. What the arena does:
//
//   - Open checks the length before validating (ErrTruncated) and again
//     after mapping, before it touches a byte of the mapping;
//   - Alloc, Lookup and Regions check it (one fstat) before they read the
//     directory;
//   - CheckSize checks it on demand (ring handles call it from Recover).
//
// Once a check finds the file shorter than the mapping, the handle is
// broken for good: the mapping is replaced by private anonymous memory
// (see pin.go), so that nothing in this process faults on it any more
// (a region's bytes read as zeros), its liveness locks are released (its
// ring entries read as dead to the other processes), the pins are told,
// and every method that would read the mapping fails with the truncation
// (ErrTruncated, which matches ErrCorrupt). An access to a lost page between the
// truncation and the first check still faults: only keeping the file's
// write permission to the processes that share it (the default mode 0600
// and Open's ownership checks) rules that out.

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// CheckSize reports whether the arena file is still as long as the
// mapping: nil if it is, an error matching ErrTruncated (and ErrCorrupt)
// if another process truncated it. Finding a truncation breaks the
// handle: the mapping is replaced by private anonymous memory, so later
// accesses through this handle's regions read zeros instead of faulting,
// its liveness locks are released, every Pin's onClose is called with the
// truncation, and from then on Alloc, Lookup, Regions, Pin, the liveness
// lock methods and CheckSize return it. It returns ErrClosed after Close.
// One fstat system call.
func (a *Arena) CheckSize() error {
	a.mu.RLock()
	err := a.usable()
	var size int64
	if err == nil {
		size, err = fstatSize(int(a.f.Fd()))
	}
	a.mu.RUnlock()
	if err != nil || size >= a.g.size {
		return err
	}
	return a.breakOff(fmt.Errorf("%w: %s has %d bytes, %d are mapped", ErrTruncated, a.path, size, a.g.size))
}

// breakOff breaks the handle on the truncation cause (see CheckSize) and
// returns the truncation now recorded: cause, or the one a racing check
// recorded first.
func (a *Arena) breakOff(cause error) error {
	a.mu.Lock()
	if err := a.usable(); err != nil {
		a.mu.Unlock()
		return err
	}
	a.broken = cause
	// Replace first: every access from now on is to anonymous memory,
	// even one by a user that has not been told yet.
	a.anonMirrors() // mirrored views map the same lost pages (first: a ring works through its view alone)
	if err := remapAnon(a.mem); err == nil {
		a.anon = true
	}
	_ = a.closeHold() // the handle's ring entries must read as dead: they will not be released
	pins := a.takePins()
	a.mu.Unlock()
	notifyPins(pins, cause)
	return cause
}

// fstatSize is the size of the open file fd.
func fstatSize(fd int) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("arena: fstat: %w", err)
	}
	return st.Size, nil
}
