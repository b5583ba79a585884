// Package atomicx provides atomics that are cheaper than sync/atomic where
// a weaker ordering suffices: a release store, an acquire load and a full
// fence. The ring uses exactly one of them, StoreRelease32, for the slot
// header words a consumer acquire-loads (the SPSC slot Seq and the MPMC
// slot Len: ring/layout.go storeRelease32), where docs/benchmarks.md
// measured it against sync/atomic's XCHG; every publish that an eventcount
// depends on stays on sync/atomic (see below). The others are measured in
// this package's benchmarks and used nowhere until a measurement shows a
// gain on the target machines.
//
// # Concurrency
//
// Every function may be called from any number of goroutines at once, on
// any naturally aligned address: 8-byte aligned for the 64-bit forms (the
// caller's job on 32-bit platforms, exactly as for sync/atomic), 4-byte
// aligned for the 32-bit forms. An access through these functions is atomic
// (never torn) with respect to every other atomic access of the same width
// to the same address, whether made through this package or sync/atomic.
//
// # Memory-ordering contract
//
//   - [StoreRelease64], [StoreRelease32]: a release store. Every load and
//     store that precedes it in program order becomes visible before it does.
//   - [LoadAcquire64], [LoadAcquire32]: an acquire load. No load or store
//     that follows it in program order is performed before it. A goroutine
//     whose acquire load observes the value of a release store therefore
//     also observes everything that preceded that store (message passing).
//   - [Fence]: a full fence, including StoreLoad: every store before it is
//     globally visible before any load after it is performed.
//
// # A RELEASE STORE DOES NOT ORDER A LATER LOAD
//
// StoreRelease followed by a load (plain, LoadAcquire, or sync/atomic.Load)
// of a DIFFERENT location may be performed in the opposite order: the load
// can complete while the store still sits in the core's store buffer. There
// is no StoreLoad ordering. On amd64 this is exactly the one reordering
// x86-TSO allows, and StoreRelease64 is a plain MOV, so it happens in
// practice (the test TestStoreBufferWithoutFence counts it).
//
// Any code that publishes a value and then checks whether a peer is asleep
// or waiting (the Dekker, store-buffer or eventcount pattern: "store tail;
// load waiters" on one side against "store waiters; load tail" on the other)
// needs StoreLoad ordering on both sides, or each side can miss the other
// and a wake-up is lost forever. sync/atomic.Store gives it (on amd64 it is
// an XCHG, a locked instruction and so a full fence; all sync/atomic
// operations are sequentially consistent). StoreRelease does not. In that
// pattern use sync/atomic, or StoreRelease followed by [Fence] (which then
// buys nothing over sync/atomic.Store and is measured in BenchmarkStore).
//
// # Implementation and cost
//
// atomicx_amd64.s and atomicx_arm64.s hold the assembly, declared in
// atomicx_asm.go; atomicx_generic.go is the reference, with the opposite
// build constraint, and is also selected on amd64 and arm64 by the purego
// build tag. The reference is sync/atomic, which is sequentially consistent
// and so at least as strong as the contract above; the assembly has the
// same semantics as the reference for every program that relies only on the
// contract above.
//
//   - amd64 (x86-TSO): every plain store is a release store and every plain
//     load is an acquire load, so StoreRelease is a plain MOV (sync/atomic
//     uses XCHG) and LoadAcquire is a plain MOV (the same instruction
//     sync/atomic uses). Fence is MFENCE. The only possible gain is the
//     release store.
//   - arm64: StoreRelease is STLR and LoadAcquire is LDAR, the very
//     instructions sync/atomic already uses for Store and Load; Fence is
//     DMB ISH. Here the assembly cannot win; it exists so that one code path
//     serves both architectures.
//   - generic (every other GOARCH, and the purego tag): sync/atomic. Fence
//     is an atomic add to a package-level word: every sync/atomic read-modify-
//     write is sequentially consistent, and on 386 it is a LOCK-prefixed
//     instruction, which x86 defines as a full fence.
//
// Assembly functions are never inlined, while the compiler turns sync/atomic
// calls into inline instructions. Each call here therefore costs a function
// call (on the order of 1–2 ns, through the ABI wrapper that moves register
// arguments to the stack for the assembly), which can exceed what a cheaper
// instruction saves; only the benchmarks can say. Likewise MFENCE is not
// always the cheapest full fence on x86 (a LOCK-prefixed no-op RMW, as
// sync/atomic uses, is often cheaper); BenchmarkFence and
// BenchmarkStore/StoreRelease64+Fence measure it against atomic.Store64.
//
// # Race detector
//
// The race detector does not see accesses made by assembly, so it does not
// treat a StoreRelease/LoadAcquire pair as synchronisation and reports the
// plain data they publish as a race (and misses real races on the words
// themselves). [Race] is true when the race detector is on; the ring uses
// sync/atomic whenever Race is true, so that tests under -race check the
// real ordering argument.
package atomicx
