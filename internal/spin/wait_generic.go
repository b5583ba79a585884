//go:build (!amd64 && !arm64) || !gc || purego

package spin

import (
	"strconv"
	"time"
)

// thisBuild has no wait assembly: every wait is a poll with no hint.
var thisBuild = setOf(MethodNone)

// tscWait is never selected in this build; it polls.
func tscWait(m Method, w word, old uint64, budget time.Duration) bool {
	return poll(MethodNone, w, old, budget)
}

// wfeWaitLoop is never selected in this build; it polls.
func wfeWaitLoop(w word, old uint64, budget time.Duration) bool {
	return poll(MethodNone, w, old, budget)
}

// tscPause is never selected in this build; it polls the clock.
func tscPause(d time.Duration) {
	start := time.Now()
	for time.Since(start) < d {
	}
}

// BudgetClock says which counter wait budgets are measured in.
func BudgetClock() string {
	return "monotonic clock (time.Now), read every " + strconv.Itoa(pollsPerClock) + " polls"
}
