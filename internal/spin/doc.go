// Package spin issues the CPU's spin-wait hint: one instruction that tells
// the core "this thread is polling a memory location and has nothing better
// to do until it changes", and, where the CPU offers one to user mode, a
// wait that sleeps the hardware thread until that location is written.
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
// # Waiting for a word to change
//
// [WaitChange32] waits until a 32-bit word no longer holds a given value,
// or for a bounded budget, with the process's wait method ([Chosen]),
// selected once at package initialisation from cpu.Detect by [Select]:
//
//   - MONITORX/MWAITX (AMD, CPUID.80000001h:ECX[29], read from the
//     "mwaitx" flag of /proc/cpuinfo): MONITORX arms the monitor on the
//     word's cache line, the word is re-checked (a store that landed
//     before the monitor was armed would not wake the wait), then MWAITX
//     with hint 0xF0 (stay in C0) and its timer on (ECX[1]; EBX = the
//     remaining budget in TSC ticks).
//   - UMONITOR/UMWAIT (Intel WAITPKG, CPUID.7.0:ECX[5]): the same
//     pattern, UMWAIT in C0.1 (ECX[0] = 1, the lighter state with the
//     faster exit) until a TSC deadline; the OS may cap one wait
//     (IA32_UMWAIT_CONTROL, 100,000 TSC ticks by default on Linux).
//     TPAUSE, the timed pause of the same feature, serves [PauseFor] and
//     SHMRING_WAIT=tpause, which polls the word with short TPAUSEs.
//   - WFE (arm64, when Linux reports the timer event stream,
//     HWCAP_EVTSTRM): SEVL and WFE clear a stale event, a load-exclusive of
//     the word arms the exclusive monitor, and if the word is unchanged WFE
//     sleeps until a store to its line clears the monitor or the event
//     stream (10 kHz) wakes it, the pattern of Linux's __cmpwait. Without
//     the event stream a WFE could sleep until the next interrupt, so the
//     choice falls back to YIELD.
//   - Otherwise a poll: the build's hint (PAUSE on amd64, YIELD on arm64,
//     none elsewhere and with the purego tag) between atomic loads, one
//     hint for the first checks and four after, the budget measured on the
//     monotonic clock.
//
// An instruction is only ever executed if cpu.Detect reports it: the CPU
// decides, the build only limits the choice further. The environment
// variable SHMRING_WAIT ([EnvWait]) forces a method for measurement;
// forcing one the CPU or build lacks selects the basic hint instead, and
// [Choice.Name] says so. The Go assembler has no mnemonics for the x86
// wait instructions; wait_amd64.s spells them as bytes, and a test reads
// those bytes back and checks them against the SDM and APM encodings.
//
// Budgets of the TSC methods are counted in TSC ticks at a rate
// calibrated against the monotonic clock at initialisation (50 µs, only in
// processes whose method uses the TSC); WFE's are counted on CNTVCT_EL0,
// whose rate the CPU reports, but a WFE with no store can overrun the
// budget by one event-stream period (100 µs).
//
// # Concurrency
//
// Pause and PauseN touch no memory and may be called from any number of
// goroutines at once. Neither yields the processor to the Go scheduler or to
// the operating system: a spin loop that may wait long must still fall back
// to runtime.Gosched or to a blocking wait (see package futex).
//
// Any number of goroutines may call WaitChange32 and PauseFor at once, on
// the same word or on different words; neither writes memory. The wait
// method is chosen before main runs and never changes, so Chosen and
// Current need no synchronisation.
//
// # Memory ordering
//
// None. A spin hint is not a barrier: it neither orders nor publishes any
// memory access, and the loop that calls it must still load the awaited
// location with an acquire (or stronger) atomic.
//
// WaitChange32 is a hint too. Its own loads of the word are atomic
// (acquire), but the monitor instructions only decide how long the thread
// sleeps: they can wake early (an interrupt, a store to another word of
// the line, a store of the same value) or, on a hypervisor that traps
// them, not sleep at all. The caller re-checks the state it waits for with
// its usual acquire loads after every wait, so correctness never depends
// on the monitor, only latency and power do.
//
// # Build variants
//
// pause_amd64.s and pause_arm64.s hold the assembly, declared in
// pause_asm.go; pause_generic.go is the reference, with the opposite build
// constraint, and is also selected on amd64 and arm64 by the purego build
// tag. The assembly has the same semantics as the reference (return after a
// delay with no other effect); only the delay differs.
//
// The waits follow the same pattern: method.go (the selection) and wait.go
// (WaitChange32 and the polling wait, the reference) are portable;
// wait_amd64.go/.s and wait_arm64.go/.s add the hardware waits;
// wait_generic.go, for every other build and purego, offers none, so every
// wait there is the poll.
package spin
