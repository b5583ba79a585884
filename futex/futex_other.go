//go:build !linux

package futex

import "time"

// Supported reports whether Wait and Wake are real kernel futexes. It is
// false here: Wait polls (see pollWait) and Wake does nothing.
const Supported = false

// wait is the portable fallback: there is no kernel futex to sleep on, so it
// polls the word with back-off (pollWait). That costs up to a millisecond of
// latency per wake-up and CPU time while waiting; it is for portability only.
func wait(addr *uint32, val uint32, timeout time.Duration) error {
	return pollWait(addr, val, timeout)
}

// wake does nothing in the fallback: waiters notice the changed word by
// polling, so there is never anyone asleep to wake and the count is 0.
func wake(addr *uint32, n int32) (int, error) {
	return 0, nil
}
