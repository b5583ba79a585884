//go:build gc && !purego

package spin

import (
	"strconv"
	"sync/atomic"
	"time"
)

// thisBuild is what wait_arm64.s implements. Which of these may run is
// decided by the CPU (onCPU), never by this set alone.
var thisBuild = setOf(MethodNone, MethodYield, MethodWFE)

// wfeWait arms the exclusive monitor with a load-exclusive of *addr and,
// if *addr still equals old, waits in WFE for an event: a store to the
// line (which clears the monitor), the timer event stream, an interrupt
// or an exception return.
//
//go:noescape
func wfeWait(addr *uint32, old uint32)

// cntvct reads the virtual counter (CNTVCT_EL0), which Linux lets user
// space read; cntfrq reads its frequency in Hz (CNTFRQ_EL0).
func cntvct() uint64
func cntfrq() uint64

// cntRate is the counter's rate in 16.16 ticks per nanosecond.
var cntRate = perNs16(max(cntfrq(), 1))

// wfeWait32 waits with WFE until the word changes or the budget is spent.
// The budget is checked only between WFEs, so a wait with no store
// overruns it by up to one event-stream period.
func wfeWait32(addr *uint32, old uint32, budget time.Duration) bool {
	// Acquire: pairs with the peer's store of a new value.
	if atomic.LoadUint32(addr) != old {
		return true
	}
	if budget <= 0 {
		return false
	}
	total := ticksFor(budget, cntRate)
	start := cntvct()
	for {
		wfeWait(addr, old)
		// Acquire, as above; a wake-up for another reason sleeps again.
		if atomic.LoadUint32(addr) != old {
			return true
		}
		if cntvct()-start >= total {
			return false
		}
	}
}

// tscWait32 is never selected on arm64 (thisBuild lacks the x86 methods);
// it polls.
func tscWait32(m Method, addr *uint32, old uint32, budget time.Duration) bool {
	return poll32(MethodYield, addr, old, budget)
}

// tscPause is never selected on arm64; it is unreachable, and pauses with
// YIELD if reached.
func tscPause(d time.Duration) {
	start := time.Now()
	for time.Since(start) < d {
		PauseN(hintsPerPoll)
	}
}

// BudgetClock says which counter wait budgets are measured in.
func BudgetClock() string {
	if chosen.Method != MethodWFE {
		return "monotonic clock (time.Now), read every " + strconv.Itoa(pollsPerClock) + " polls"
	}
	return "CNTVCT_EL0 at " + strconv.FormatUint(cntfrq()/1e6, 10) +
		" MHz (CNTFRQ_EL0); WFE is woken by the event stream at least every 100 µs"
}
