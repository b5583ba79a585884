// Package spin issues the CPU's spin-wait hint: one instruction that tells
// the core "this thread is polling a memory location and has nothing better
// to do until it changes".
//
// [Pause] issues one hint and [PauseN] issues n of them inside a single
// assembly loop, so a spin loop that wants a longer back-off pays one call
// per n hints rather than one call per hint. [Hint] names the instruction the
// current build issues: "PAUSE" on amd64, "YIELD" on arm64, and "none"
// elsewhere or when built with the purego tag, where both functions return
// at once.
//
// # Why the hint matters
//
// A tight loop that only loads a flag and compares it looks, to an
// out-of-order core, like ideal code to run ahead on: it keeps many
// iterations of speculative loads in flight. When the peer finally writes
// the awaited cache line, those speculatively executed loads may have read
// the old value out of order with respect to the new one, so the core
// detects a possible memory-ordering violation and flushes the whole
// pipeline. That flush is paid exactly when the waiter should be reacting
// fastest. On x86, PAUSE de-pipelines the loop (it holds back later
// instructions for a while), which avoids that mis-speculation flush, lowers
// the power the spinning core draws, and, on a hyper-threaded core, hands
// execution resources to the sibling thread, which may be the very thread
// the spinner is waiting for.
//
// The length of that hold-back is not architectural. On Intel cores from
// Skylake onward a PAUSE stalls for on the order of 140 cycles; on earlier
// Intel cores it is of the order of 10 cycles, and AMD Zen parts are in the
// low range as well (the exact figure varies by generation). A spin budget
// written as "N iterations" therefore differs by an order of magnitude in
// wall time between two machines. Spin budgets must be counted in time
// (for example by checking a monotonic clock every PauseN batch), never in
// iterations of Pause.
//
// On arm64, YIELD is the architectural hint, mainly meant for simultaneous
// multithreading; many current arm64 cores treat it as a NOP, so there it
// buys little beyond a cheap call. It is kept because it is the documented
// hint; whether another instruction serves better is a question for a
// benchmark, not for this package.
//
// # Concurrency
//
// Pause and PauseN touch no memory and may be called from any number of
// goroutines at once. Neither yields the processor to the Go scheduler or to
// the operating system: a spin loop that may wait long must still fall back
// to runtime.Gosched or to a blocking wait (see package futex).
//
// # Memory ordering
//
// None. A spin hint is not a barrier: it neither orders nor publishes any
// memory access, and the loop that calls it must still load the awaited
// location with an acquire (or stronger) atomic.
//
// # Build variants
//
// pause_amd64.s and pause_arm64.s hold the assembly, declared in
// pause_asm.go; pause_generic.go is the reference, with the opposite build
// constraint, and is also selected on amd64 and arm64 by the purego build
// tag. The assembly has the same semantics as the reference (return after a
// delay with no other effect); only the delay differs.
package spin
