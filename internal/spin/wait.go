package spin

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
	"unsafe"
)

// The poll schedule of the polling methods (PAUSE, YIELD, none): the same
// as the ring's spin phase, one hint between the first checks and then
// several, so that a poller that keeps up does not hammer the line its
// peer is writing.
const (
	// fastPolls is how many checks run with a single hint first.
	fastPolls = 8
	// hintsPerPoll is how many hints run between two later checks.
	hintsPerPoll = 4
	// pollsPerClock is how many checks pass between two clock reads; a
	// clock read costs about as much as a few hints.
	pollsPerClock = 4
)

// WaitChange32 waits until the word at addr no longer holds old, or for
// about budget, whichever comes first, using the process's wait method
// ([Chosen]). It reports whether it saw the word changed; false means the
// budget ran out. A budget of zero or less checks once.
//
// The wait is a hint, never a synchronisation: the caller must re-check
// the state it waits for with its own acquire loads afterwards, whatever
// WaitChange32 returned. A monitored wait can wake early (an interrupt, a
// store to another word of the same cache line, a store that wrote the
// same value) or, on a hypervisor that traps the instruction, not sleep at
// all; WaitChange32 loops until the word changed or the budget is spent,
// so it returns early only if the word changed, but the caller's check is
// what counts. The word's loads here are atomic (acquire), so true means
// a later load by the caller sees a value other than old at least as
// recent.
//
// How long the budget really is depends on the method: polls read the
// monotonic clock every few checks; MWAITX, UMWAIT and TPAUSE count TSC
// ticks at a rate calibrated at start-up; WFE is woken by the timer event
// stream, so one wait with no store can overrun the budget by up to one
// event-stream period (100 µs on Linux). WaitChange32 does not yield to
// the Go scheduler and allocates nothing.
func WaitChange32(addr *uint32, old uint32, budget time.Duration) bool {
	return waitChange(chosen.Method, word{unsafe.Pointer(addr), false}, uint64(old), budget)
}

// WaitChange64 is [WaitChange32] for a 64-bit word, for example a ring
// position whose top bit a close sets: a change of either half ends the
// wait. addr must be 8-byte aligned, as for every 64-bit atomic.
func WaitChange64(addr *uint64, old uint64, budget time.Duration) bool {
	return waitChange(chosen.Method, word{unsafe.Pointer(addr), true}, old, budget)
}

// word is the address of a 32-bit (wide false) or 64-bit (wide true)
// word that a wait watches.
type word struct {
	p    unsafe.Pointer
	wide bool
}

// load reads the word atomically (acquire: pairs with the peer's store of
// a new value), zero-extended.
func (w word) load() uint64 {
	if w.wide {
		return atomic.LoadUint64((*uint64)(w.p))
	}
	return uint64(atomic.LoadUint32((*uint32)(w.p)))
}

// waitChange is WaitChange32/64 with the method as a parameter. m must be
// a method Select can return on this machine: a hardware method the CPU
// lacks would fault.
func waitChange(m Method, w word, old uint64, budget time.Duration) bool {
	switch m {
	case MethodMWAITX, MethodUMWAIT, MethodTPAUSE:
		return tscWait(m, w, old, budget)
	case MethodWFE:
		return wfeWaitLoop(w, old, budget)
	}
	return poll(m, w, old, budget)
}

// waitChange32 is waitChange for a 32-bit word, for tests.
func waitChange32(m Method, addr *uint32, old uint32, budget time.Duration) bool {
	return waitChange(m, word{unsafe.Pointer(addr), false}, uint64(old), budget)
}

// poll is the polling wait: the method's hint between atomic loads of the
// word, the monotonic clock every pollsPerClock checks.
func poll(m Method, w word, old uint64, budget time.Duration) bool {
	if w.load() != old {
		return true
	}
	if budget <= 0 {
		return false
	}
	start := time.Now()
	for i := 1; ; i++ {
		if m != MethodNone {
			n := 1
			if i > fastPolls {
				n = hintsPerPoll
			}
			PauseN(n) // PAUSE or YIELD, whichever this build issues
		}
		if w.load() != old {
			return true
		}
		if i%pollsPerClock == 0 && time.Since(start) >= budget {
			return false
		}
	}
}

// PauseFor pauses for about d with no address to watch: TPAUSE where the
// CPU offers WAITPKG and the process's method uses it (UMWAIT or TPAUSE),
// otherwise the build's hint in a loop bounded by the monotonic clock. It
// returns at once for d <= 0.
func PauseFor(d time.Duration) {
	if d <= 0 {
		return
	}
	if m := chosen.Method; m == MethodTPAUSE || m == MethodUMWAIT {
		tscPause(d)
		return
	}
	start := time.Now()
	for time.Since(start) < d {
		PauseN(hintsPerPoll)
	}
}

// ticksFor converts d to ticks of a counter whose rate is perNs16 ticks
// per nanosecond in 16.16 fixed point, saturating instead of overflowing.
func ticksFor(d time.Duration, perNs16 uint64) uint64 {
	if d <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(d), perNs16)
	if hi>>16 != 0 {
		return math.MaxUint64
	}
	return hi<<48 | lo>>16
}

// perNs16 returns the rate hz (ticks per second) as ticks per nanosecond
// in 16.16 fixed point, at least 1.
func perNs16(hz uint64) uint64 {
	hi, lo := bits.Mul64(hz, 1<<16)
	if hi != 0 {
		return math.MaxUint64 / (1 << 20) // absurd rate; any large value will do
	}
	return max(lo/1e9, 1)
}
