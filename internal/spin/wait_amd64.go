//go:build gc && !purego

package spin

import (
	"math"
	"strconv"
	"time"
	"unsafe"
)

// thisBuild is what wait_amd64.s implements. Which of these may run is
// decided by the CPU (onCPU), never by this set alone.
var thisBuild = setOf(MethodNone, MethodPause, MethodTPAUSE, MethodMWAITX, MethodUMWAIT)

// rdtsc reads the time-stamp counter (RDTSC; not serialising, which is
// fine for a budget).
func rdtsc() uint64

// monitorxWait arms MONITORX on the line holding the word at addr (32 or
// 64 bits wide), re-checks that the word still equals old and, if so,
// sleeps in MWAITX until that line is written, an interrupt, or ticks TSC
// ticks (ticks must be > 0). Only for CPUs that report MONITORX.
//
//go:noescape
func monitorxWait(addr unsafe.Pointer, old uint64, ticks uint32, wide bool)

// umonitorWait arms UMONITOR on the line holding the word at addr,
// re-checks that the word still equals old and, if so, sleeps in UMWAIT
// (C0.1) until that line is written, an interrupt, the OS limit
// (IA32_UMWAIT_CONTROL) or the TSC reaches deadline. Only for CPUs that
// report WAITPKG.
//
//go:noescape
func umonitorWait(addr unsafe.Pointer, old uint64, deadline uint64, wide bool)

// tpauseUntil pauses in C0.1 until the TSC reaches deadline, an interrupt
// or the OS limit. Only for CPUs that report WAITPKG.
func tpauseUntil(deadline uint64)

// waitCode returns the entry addresses of monitorxWait, umonitorWait and
// tpauseUntil, so that a test can check their hand-encoded bytes.
func waitCode() (monitorx, umonitor, tpause uintptr)

// tscRate is the TSC's rate in 16.16 ticks per nanosecond, calibrated at
// initialisation if (and only if) the chosen method counts TSC ticks, so
// that other processes pay nothing for it; 0 otherwise.
var tscRate = initTSCRate()

// tpauseSlice is the longest single TPAUSE between two checks of the
// word when polling with TPAUSE (it watches nothing, so this bounds the
// latency it adds).
const tpauseSlice = 200 * time.Nanosecond

// Bounds of a believable TSC rate: outside them the calibration was
// disturbed and assumedTSCHz is used instead.
const (
	minTSCHz     = 100e6
	maxTSCHz     = 20e9
	assumedTSCHz = 3e9
	// calibrationWindow is how long the start-up calibration spins. Its
	// error is about two clock reads (~100 ns here) in this window.
	calibrationWindow = 50 * time.Microsecond
)

func initTSCRate() uint64 {
	switch chosen.Method {
	case MethodMWAITX, MethodUMWAIT, MethodTPAUSE:
		return perNs16(calibrateTSC(calibrationWindow))
	}
	return 0
}

// calibrateTSC measures the TSC's rate in Hz against the monotonic clock
// over about window, falling back to assumedTSCHz if the result is not
// believable (a preemption inside the window stretches both readings, so
// it rarely is).
func calibrateTSC(window time.Duration) uint64 {
	t0 := time.Now()
	c0 := rdtsc()
	for time.Since(t0) < window {
	}
	c1 := rdtsc()
	el := time.Since(t0)
	if el <= 0 || c1 <= c0 {
		return assumedTSCHz
	}
	hz := float64(c1-c0) / el.Seconds()
	if hz < minTSCHz || hz > maxTSCHz {
		return assumedTSCHz
	}
	return uint64(hz)
}

// tscWait waits with MWAITX, UMWAIT or TPAUSE (m), counting TSC ticks,
// until the word changes or the budget is spent.
func tscWait(m Method, w word, old uint64, budget time.Duration) bool {
	if w.load() != old {
		return true
	}
	if budget <= 0 {
		return false
	}
	total := ticksFor(budget, tscRate)
	start := rdtsc()
	deadline := start + total
	if deadline < start {
		deadline = math.MaxUint64
	}
	slice := ticksFor(tpauseSlice, tscRate)
	for {
		// Unsigned: a TSC that went backwards (a migration between
		// unsynchronised sockets) ends the wait early, never late.
		spent := rdtsc() - start
		if spent >= total {
			return false
		}
		switch m {
		case MethodMWAITX:
			monitorxWait(w.p, old, uint32(min(total-spent, math.MaxUint32)), w.wide)
		case MethodUMWAIT:
			umonitorWait(w.p, old, deadline, w.wide)
		default:
			tpauseUntil(start + spent + min(total-spent, slice))
		}
		// Also catches a wake-up for another word of the same line,
		// after which the loop sleeps again.
		if w.load() != old {
			return true
		}
	}
}

// tscPause pauses for about d with TPAUSE. Only for CPUs that report
// WAITPKG.
func tscPause(d time.Duration) {
	start := rdtsc()
	total := ticksFor(d, tscRate)
	for {
		spent := rdtsc() - start
		if spent >= total {
			return
		}
		tpauseUntil(start + total)
	}
}

// wfeWaitLoop is never selected on amd64 (thisBuild lacks WFE); it polls.
func wfeWaitLoop(w word, old uint64, budget time.Duration) bool {
	return poll(MethodPause, w, old, budget)
}

// BudgetClock says which counter wait budgets are measured in.
func BudgetClock() string {
	if tscRate == 0 {
		return "monotonic clock (time.Now), read every " + strconv.Itoa(pollsPerClock) + " polls"
	}
	return "TSC at " + strconv.FormatFloat(float64(tscRate)/(1<<16), 'f', 2, 64) +
		" GHz, calibrated against the monotonic clock at start-up"
}
