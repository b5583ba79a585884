// Package futex puts a goroutine to sleep on a 32-bit word in shared memory
// and wakes it from any process that maps the same memory. It is the only
// package in shmring that issues SYS_FUTEX; the eventcount in ring/ builds
// its blocking waits on Wait and Wake.
//
// # Shared, not private, futexes
//
// Linux keys every futex by the memory it names. A private futex
// (FUTEX_PRIVATE_FLAG) is keyed by (mm, virtual address): cheap, but only
// threads of one process can ever meet on it. A shared futex (no flag) on a
// MAP_SHARED file mapping is keyed by the backing object instead, the
// (inode, page index, offset-in-page) triple, so two processes that map the
// same arena file, each at a different virtual address, name the same futex
// through their own pointers. shmring's rings live in exactly such mappings,
// so this package never sets FUTEX_PRIVATE_FLAG. On private memory (the Go
// heap, as in tests and examples) a shared futex silently degrades to a
// process-private key, so the same calls work there too.
//
// # Contract
//
// Wait(addr, val, timeout) sleeps only if *addr == val when the kernel looks,
// and then until a Wake on the same word, the timeout, or a spurious
// wake-up. It returns nil when woken, when *addr != val on entry (EAGAIN),
// and on spurious wake-ups; ErrTimeout (which also matches
// os.ErrDeadlineExceeded) when the timeout passes. A timeout < 0 means no
// timeout; a timeout of 0 only compares (nil if the word differs, ErrTimeout
// if it still equals val). EINTR is retried with the time remaining to a
// deadline computed once, on entry, from the monotonic clock.
//
// Because nil covers "woken", "already different" and "spurious", a nil
// return says nothing about the caller's condition. Callers must re-check
// their condition in a loop:
//
//	for atomic.LoadUint32(addr) == old { // acquire: pairs with the waker's store
//		if err := futex.Wait(addr, old, d); err != nil {
//			return err // ErrTimeout
//		}
//	}
//
// The eventcount in ring/ does exactly this.
//
// Wake(addr, n) wakes at most n sleepers (n <= 0, or n > math.MaxInt32,
// means all) in every process and returns how many it woke; WakeAll wakes
// them all. A Wake with nobody asleep costs one system call and returns 0.
//
// addr must be non-nil and 4-byte aligned (ErrNilAddress, ErrUnaligned
// otherwise; both also match os.ErrInvalid), and the word must not move
// while anyone waits on it: an arena region, or a Go heap variable (the Go
// collector does not move heap objects), never a stack variable whose
// address has been handed to another goroutine unsafely.
//
// # Concurrency
//
// Every function may be called by any number of goroutines and processes at
// once; the package keeps no state of its own. A sleeping Wait holds an OS
// thread but not a P: the call goes through the blocking syscall path
// (unix.Syscall6, not RawSyscall), so the scheduler hands the P to other
// goroutines while the thread sleeps in the kernel.
//
// # Memory ordering
//
// The futex word is shared memory: every access to it must go through
// sync/atomic, and the futex calls themselves are not Go memory-model
// synchronisation (the race detector does not see them). Ordering comes from
// the atomics around them:
//
//   - The waker stores the new value (atomic store, release) and then calls
//     Wake. The kernel compares *addr == val atomically with queueing the
//     waiter (under the futex hash-bucket lock, with a full barrier against
//     the waker's check for queued waiters), so either the waiter's compare
//     sees the new value and Wait returns at once, or the waiter is already
//     queued when Wake looks. A Wake issued after a store that changes *addr
//     cannot be lost.
//   - A waiter that returns from Wait re-loads the word (atomic load,
//     acquire) and so observes everything the waker published before its
//     store. That load, not the futex, is the happens-before edge.
//
// A Wake that is not preceded by a change to the word can be lost (the
// waiter may not have queued yet); protocols therefore always change the
// word, for example by bumping an epoch counter, before they Wake.
//
// # Hostile peers
//
// A peer sharing the arena can store any value in a futex word and can Wake
// any word at any time. Neither affects memory safety: the worst a peer can
// cause is a spurious return (handled by the re-check loop) or a sleep that
// lasts until the timeout, which is why blocking callers pass one.
//
// # Other platforms
//
// Where there are no futexes (Supported is false: every GOOS but linux and
// android) Wait polls the word with an exponential back-off sleep from 50µs
// to 1ms and Wake does nothing and returns 0. That fallback keeps the module
// building and correct everywhere, since waiters find a changed word on
// their own, but it costs up to a millisecond of latency per wake-up and CPU
// time per sleeping waiter. It exists for portability, not for production
// use.
package futex
