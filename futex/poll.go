package futex

import (
	"sync/atomic"
	"time"
)

// Polling back-off for the fallback Wait. The first re-check comes after
// pollMin, so a waker that changes the word soon after is noticed within
// tens of microseconds; the interval doubles up to pollMax, so a waiter that
// sleeps long costs about a thousand wake-ups a second rather than a
// spinning core.
const (
	pollMin = 50 * time.Microsecond
	pollMax = time.Millisecond
)

// pollWait is Wait without a kernel futex, used where Supported is false
// (futex_other.go). It is built on every platform so that the Linux test run
// checks it too.
//
// It polls the word with an exponential back-off sleep until the word differs
// from val (nil) or the timeout passes (ErrTimeout): the same contract as the
// futex Wait, with no spurious returns, but up to pollMax of extra latency on
// every wake-up and CPU time spent while "asleep". It exists so that the
// module builds and behaves correctly everywhere, not for production.
func pollWait(addr *uint32, val uint32, timeout time.Duration) error {
	var deadline time.Time // monotonic; zero when timeout < 0
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	backoff := pollMin
	for {
		// Acquire: pairs with the waker's atomic store that changed the word;
		// this load stands in for the kernel's compare.
		if atomic.LoadUint32(addr) != val {
			return nil
		}
		sleep := backoff
		if timeout >= 0 {
			rem := time.Until(deadline)
			if rem <= 0 {
				return ErrTimeout
			}
			sleep = min(sleep, rem)
		}
		time.Sleep(sleep)
		backoff = min(2*backoff, pollMax)
	}
}
