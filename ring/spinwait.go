package ring

import (
	"time"

	"github.com/shmring/shmring/internal/spin"
)

// The spin phase's hardware wait. Where the CPU offers a monitored wait
// (MONITORX/MWAITX, UMONITOR/UMWAIT, WFE; internal/spin chooses it once
// from CPUID, overridable with SHMRING_WAIT), a spinning waiter that knows
// which shared word its peer will write next sleeps the hardware thread
// until that word's cache line is written, instead of issuing PAUSEs
// between loads of it: it stops pulling the line the peer is writing (the
// reason spinStep backs off to pausesPerCheck pauses), draws less power,
// and on SMT cores gives the sibling thread the core.
//
// Ordering: the wait is only a hint. spin.WaitChange32/64 loads the word
// atomically, but whatever it returns, and however it woke (a store, its
// budget, an interrupt, a store to another word of the same line), the
// caller then retries its operation, which re-reads the ring with its usual
// acquire loads and decides from those alone. A monitor that never fires,
// or a hypervisor that turns the instruction into a no-op, costs latency
// (at most spinWaitBudget per step) and never correctness.
const (
	// spinWaitBudget bounds one hardware wait. It is short against the
	// adaptive spin phase (adaptiveSpin) so that the phase, the clock
	// checks every clockEvery steps and a cancellation still advance
	// about as often as with pauses: a step that waits the full budget
	// makes clockEvery steps ~32 µs instead of a few. WFE has no timeout
	// of its own: without a store a step lasts until the 10 kHz event
	// stream wakes it, up to 100 µs, so with spin.MethodWFE the waiter
	// must count time, not steps (clockEvery steps would be up to 3.2 ms,
	// WaitSpin's 1024-step context check up to 100 ms).
	spinWaitBudget = time.Microsecond
	// monitorAfter is how many checks keep today's single pause before the
	// hardware wait takes over: a ping-pong reply lands within a few
	// hundred nanoseconds, and a monitored wait's exit latency has not
	// been measured against a PAUSE on a machine that has one (this VM
	// offers neither MWAITX nor WAITPKG). Set it to 0 to measure the
	// wait from the first check.
	monitorAfter = fastChecks
)

// spinWait is spinStep for a caller that knows which 32-bit word its peer
// writes next and the value it read there (old): with a hardware wait
// chosen (spin.Method.Timed), from check monitorAfter on it waits for the
// word to change for at most spinWaitBudget; otherwise, or with a nil
// addr, it is spinStep (one pause for the first fastChecks checks, then
// pausesPerCheck). SHMRING_WAIT=none makes it return at once, and so does
// usePause = false. The caller re-checks the ring after it (see above).
func spinWait(addr *uint32, old uint32, iter int) {
	if !usePause {
		return
	}
	switch spinChoice(spin.Current(), addr != nil, iter) {
	case spinHardware:
		spin.WaitChange32(addr, old, spinWaitBudget)
	case spinPause:
		spinStep(iter)
	}
}

// spinWait64 is spinWait for a 64-bit word such as a position (Pos) whose
// top bit a close sets: a change of either half ends the wait.
func spinWait64(addr *uint64, old uint64, iter int) {
	if !usePause {
		return
	}
	switch spinChoice(spin.Current(), addr != nil, iter) {
	case spinHardware:
		spin.WaitChange64(addr, old, spinWaitBudget)
	case spinPause:
		spinStep(iter)
	}
}

// spinAction is one step of the spin phase's ladder.
type spinAction uint8

const (
	spinNothing  spinAction = iota // SHMRING_WAIT=none: poll with no hint
	spinPause                      // spinStep's pause schedule
	spinHardware                   // the chosen hardware wait on the word
)

// spinChoice is the ladder: the hardware wait for a known word once the
// first monitorAfter checks have passed, spinStep's pauses otherwise, and
// nothing when the process polls with no hint.
func spinChoice(m spin.Method, haveAddr bool, iter int) spinAction {
	switch {
	case haveAddr && iter > monitorAfter && m.Timed():
		return spinHardware
	case m == spin.MethodNone:
		return spinNothing
	}
	return spinPause
}
