// Package membarrier issues the process-wide memory barrier that lets a
// ring's publishers use plain stores: the asymmetric fence.
//
// A Dekker-style hand-off (a publisher stores a position and then loads a
// waiter count; a sleeper stores the waiter count and then loads the
// position) needs a StoreLoad fence on both sides, or each side may read
// the other's old value and a wake-up is lost. The fence is expensive on
// the hot side (a locked instruction or MFENCE per message) and cheap to
// move: Linux's membarrier(2) with MEMBARRIER_CMD_GLOBAL_EXPEDITED makes
// every CPU currently running a thread of a registered process execute a
// full memory barrier before the call returns (a CPU that is not running
// one passes through the scheduler's barrier anyway). So the publisher
// keeps a compiler barrier only, and the rare side (a sleeper, a closer, a
// handle taking a side over) pays one system call:
//
//	publisher (registered)            rare side
//	  store position                    store waiter count (locked)
//	  load waiter count                 Barrier()
//	                                    load position
//
// Either the publisher's load ran after the barrier point on its CPU, and
// sees the waiter count (the rare side's store preceded the barrier), or
// it ran before, and then so did the store before it in program order,
// which the barrier made visible to the rare side's load.
//
// A process that uses plain stores on the strength of this argument must
// have registered (Register) before its first such store: the expedited
// command interrupts only registered processes' CPUs. A process whose
// registration fails (an old kernel, a seccomp filter) must keep the
// locked publish, which is a fence by itself; a process whose Barrier
// fails must not rely on the peer's plain stores being fenced (the ring
// bounds its sleeps instead).
//
// Elsewhere than Linux every function reports ErrUnsupported.
package membarrier
