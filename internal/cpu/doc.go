// Package cpu reports what the machine offers to a shared-memory ring: the
// CPU's vendor and model, its cache-line size, and the user-space spin and
// wait instructions it implements, detected with github.com/klauspost/cpuid/v2.
//
// # What it is for
//
// Three decisions are derived from the detected [Info]:
//
//   - [Info.PadUnit]: the padding unit a newly created arena records for its
//     hot fields (head, tail, waiter counts) so that a producer and a consumer
//     never write to the same cache line, or to the pair of lines an x86 L2
//     spatial prefetcher fetches together.
//   - [Info.SpinHint]: the instruction the portable spin loop issues between
//     polls (PAUSE, YIELD, or nothing but runtime.Gosched).
//   - the wait method of package internal/spin (spin.Select): MONITORX/MWAITX
//     where MONITORX is set, UMONITOR/UMWAIT where WAITPKG is, WFE on arm64
//     where EventStream bounds it, else the spin hint. A field here is the
//     only thing that lets spin execute an optional instruction, so a field
//     must never report an instruction user mode cannot run.
//
// [Info.WaitInstructions] and the remaining fields are diagnostic; the
// `shmring info` command prints them.
//
// # Concurrency
//
// [Detect] may be called from any number of goroutines at once. The first
// call copies the result of cpuid's start-up detection under a sync.Once;
// every later call returns the same value without locking or system calls.
// [Info] is a plain value with no references to shared state (the slice
// returned by [Info.WaitInstructions] is freshly allocated per call), so it
// may be copied and read concurrently without synchronisation.
//
// This package never calls cpuid.Detect, which rewrites cpuid's exported CPU
// variable and is unsafe while other goroutines read it; nothing else in
// shmring may call it either.
//
// # Layout contract
//
// Nothing here changes a shared-memory layout by itself. The layout of every
// shared record is the same on every architecture and is never chosen at run
// time; only the padding unit is a run-time choice, and the arena records the
// unit it chose in the header at create time. A process that opens an
// existing arena uses the recorded unit, never its own [Info.PadUnit], so two
// processes that would have chosen differently (a different GOARCH, or a
// release of shmring with a different padding rule) still agree on every
// offset.
//
// # Memory ordering
//
// There is none to speak of: the detected values are written once inside the
// sync.Once, whose completion happens before every Detect call returns.
package cpu
