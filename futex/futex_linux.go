package futex

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Supported reports whether Wait and Wake are real kernel futexes. When it is
// false they are the polling fallback described in the package
// documentation.
const Supported = true

// futex(2) operations. FUTEX_PRIVATE_FLAG (128) is deliberately never or-ed
// in: shmring's futex words live in memory shared between processes, where
// only a shared futex is keyed by the backing file rather than by one
// process's address space.
const (
	opWait = 0 // FUTEX_WAIT
	opWake = 1 // FUTEX_WAKE
)

// maxChunk caps the timeout handed to one FUTEX_WAIT so that its timespec
// fits a 32-bit time_t (linux/386, arm, mips): about 68 years. A longer
// timeout is served by waiting again when a chunk expires early.
const maxChunk = time.Duration(1<<31-1) * time.Second

func wait(addr *uint32, val uint32, timeout time.Duration) error {
	var deadline time.Time // monotonic; zero when timeout < 0
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		var ts unix.Timespec
		var tsp *unix.Timespec // nil: sleep with no timeout
		clamped := false
		if timeout >= 0 {
			rem := time.Until(deadline)
			if rem < 0 {
				rem = 0 // still compare once: an unchanged word times out, a changed one returns nil
			}
			if rem > maxChunk {
				rem, clamped = maxChunk, true
			}
			ts = unix.NsecToTimespec(int64(rem))
			tsp = &ts
		}
		// unsafe: addr and tsp are converted to uintptr inside the call
		// expression, which keeps both alive and unmoved until the system
		// call returns (unsafe.Pointer rule 4; unix.Syscall6 is an assembly
		// function). uintptr(unsafe.Pointer(nil)) is 0, the NULL timeout.
		// Syscall6, not RawSyscall6: the thread may sleep, and the scheduler
		// must hand its P to other goroutines meanwhile.
		_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWait, uintptr(val),
			uintptr(unsafe.Pointer(tsp)), 0, 0)
		switch errno {
		case 0, unix.EAGAIN:
			// Woken, spuriously woken, or *addr != val on entry.
			return nil
		case unix.EINTR:
			// A signal: sleep again for what is left of the deadline (if
			// nothing is left, the next pass compares once and times out).
		case unix.ETIMEDOUT:
			if !clamped {
				return ErrTimeout
			}
			// Only a maxChunk slice of a longer timeout expired.
		default:
			return fmt.Errorf("futex: wait: %w", errno)
		}
	}
}

func wake(addr *uint32, n int32) (int, error) {
	// unsafe: as in wait, the conversion inside the call keeps the word
	// alive and unmoved for the system call. FUTEX_WAKE never sleeps, so
	// RawSyscall6 would do; Syscall6 keeps the two paths alike for a few tens
	// of nanoseconds of scheduler bookkeeping.
	r, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWake, uintptr(n), 0, 0, 0)
	if errno != 0 {
		return 0, fmt.Errorf("futex: wake: %w", errno)
	}
	return int(r), nil
}
