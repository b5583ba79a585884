package futex

import (
	"math"
	"time"
	"unsafe"
)

// Wait sleeps while *addr == val, until woken by Wake on the same word (from
// any process that maps the same memory), the timeout passes, or a spurious
// wake-up. A timeout < 0 means no timeout.
//
// Wait returns nil when woken, when *addr != val on entry, or spuriously,
// so callers re-check their condition in a loop (see the package
// documentation); it returns ErrTimeout, which also matches
// os.ErrDeadlineExceeded, when the timeout passes, ErrNilAddress or
// ErrUnaligned for a bad addr, and any other kernel error wrapped as
// "futex: wait: %w".
func Wait(addr *uint32, val uint32, timeout time.Duration) error {
	if err := checkAddr(addr); err != nil {
		return err
	}
	return wait(addr, val, timeout)
}

// Wake wakes at most n goroutines sleeping in Wait on addr, in this or any
// other process, and returns how many it woke. n <= 0 or n > math.MaxInt32
// means all of them.
func Wake(addr *uint32, n int) (int, error) {
	if err := checkAddr(addr); err != nil {
		return 0, err
	}
	if n <= 0 || n > math.MaxInt32 {
		n = math.MaxInt32
	}
	return wake(addr, int32(n))
}

// WakeAll wakes every goroutine sleeping in Wait on addr; it is
// Wake(addr, math.MaxInt32).
func WakeAll(addr *uint32) (int, error) {
	return Wake(addr, math.MaxInt32)
}

// checkAddr rejects what the kernel would reject with EINVAL, and nil, before
// any system call or atomic touches the word.
func checkAddr(addr *uint32) error {
	if addr == nil {
		return ErrNilAddress
	}
	// unsafe: the pointer becomes an integer only so its low bits can be
	// inspected; nothing converts it back, so the GC is not involved.
	if uintptr(unsafe.Pointer(addr))&3 != 0 {
		return ErrUnaligned
	}
	return nil
}
