//go:build gc && !purego

package spin

import (
	"strconv"
	"time"
	"unsafe"
)

// thisBuild is what wait_arm64.s implements. Which of these may run is
// decided by the CPU (onCPU), never by this set alone.
var thisBuild = setOf(MethodNone, MethodYield, MethodWFE)

// wfeWait arms the exclusive monitor with a load-exclusive of the word at
// addr (32 or 64 bits wide) and, if it still equals old, waits in WFE for
// an event: a store to the line (which clears the monitor), the timer
// event stream, an interrupt or an exception return.
//
//go:noescape
func wfeWait(addr unsafe.Pointer, old uint64, wide bool)

// cntvct reads the virtual counter (CNTVCT_EL0), which Linux lets user
// space read; cntfrq reads its frequency in Hz (CNTFRQ_EL0).
func cntvct() uint64
func cntfrq() uint64

// cntRate is the counter's rate in 16.16 ticks per nanosecond.
var cntRate = perNs16(max(cntfrq(), 1))

// wfeWaitLoop waits with WFE until the word changes or the budget is
// spent. The budget is checked only between WFEs, so a wait with no store
// overruns it by up to one event-stream period.
func wfeWaitLoop(w word, old uint64, budget time.Duration) bool {
	if w.load() != old {
		return true
	}
	if budget <= 0 {
		return false
	}
	total := ticksFor(budget, cntRate)
	start := cntvct()
	for {
		wfeWait(w.p, old, w.wide)
		// A wake-up for another reason sleeps again.
		if w.load() != old {
			return true
		}
		if cntvct()-start >= total {
			return false
		}
	}
}

// tscWait is never selected on arm64 (thisBuild lacks the x86 methods);
// it polls.
func tscWait(m Method, w word, old uint64, budget time.Duration) bool {
	return poll(MethodYield, w, old, budget)
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
