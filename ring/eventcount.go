package ring

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/futex"
)

// eventcount lets one side sleep until the other side makes progress,
// without the other side making a system call while nobody sleeps.
//
// Protocol (Dekker-style; both sides' key operations are sequentially
// consistent atomics, which on amd64 are locked instructions and full
// fences):
//
//	sleeper                              notifier
//	  Waiters++          (XADD)            publish position/sequence (XCHG or LOCK CMPXCHG)
//	  entry.Sleeping++                     if Waiters != 0 {
//	  key := Seq                               Seq++
//	  if condition holds: cancel; done         futex_wake(&Seq)
//	  futex_wait(&Seq, key)                }
//	  cancel: if entry.Sleeping != 0 { entry.Sleeping--; Waiters-- }
//
// The entry's count (peers.go) lets a survivor take a dead sleeper's
// registration out of Waiters; it plays no part in the wake-up argument.
//
// Either the sleeper's re-check sees the publish, or the notifier's load
// sees Waiters != 0 and bumps Seq; if the bump comes before futex_wait, the
// kernel sees Seq != key and returns at once (EAGAIN), and if after, the
// wake finds the sleeper queued. A StoreLoad fence between "publish" and
// "load Waiters" is essential: with a plain release store the load could be
// satisfied before the store is visible and the wake-up would be lost. That
// is why publishes use sync/atomic's sequentially consistent operations
// rather than release-only stores (docs/ring.md has the measurement).
type eventcount struct {
	seq     *uint32
	waiters *uint32
	// owner is told when a wake found nobody to wake although Waiters
	// said someone was registered: a sleeper may have died registered.
	owner *core
}

// notify wakes up to n sleepers if any are registered. The caller has just
// published with a sequentially consistent atomic.
func (e eventcount) notify(n int, peer *peerEntry) {
	// Load ordered after the caller's publish by that publish's full fence.
	if atomic.LoadUint32(e.waiters) == 0 {
		return
	}
	e.wake(n, peer)
}

func (e eventcount) wake(n int, peer *peerEntry) {
	atomic.AddUint32(e.seq, 1) // makes a racing futex_wait return EAGAIN
	woken, err := futex.Wake(e.seq, n)
	if err == nil && woken > 0 {
		atomic.AddUint64(&peer.Wakes, uint64(woken))
	}
	if err == nil && woken == 0 && e.owner != nil {
		e.owner.idleWake()
	}
}

func (e eventcount) wakeAll(peer *peerEntry) { e.wake(0, peer) }

// prepare registers a sleeper and returns the key to wait on. reg is the
// sleeper's count in its peer entry (SleepingEmpty or SleepingFull),
// raised after the shared count and lowered before it (cancel), so that a
// sleeper killed between the two leaves the entry's count at most equal to
// what it holds in Waiters: a repair that subtracts the entry's count can
// leave one stale registration (extra wake calls) but never remove a live
// one (a lost wake-up).
func (e eventcount) prepare(reg *uint32) uint32 {
	atomic.AddUint32(e.waiters, 1) // full fence: the caller's re-check comes after
	atomic.AddUint32(reg, 1)
	return atomic.LoadUint32(e.seq)
}

// cancel unregisters a sleeper (after waking, or instead of sleeping). If
// the entry's count is already 0, a repair took this registration out of
// the shared count together with the entry's (it judged the entry dead):
// the shared count is then left alone, so that no count ever goes below
// zero; the worst a wrong judgement costs is one wake-up that waits for
// the sleep bound (maxSleep).
func (e eventcount) cancel(reg *uint32) {
	for try := 0; try < maxRetries; try++ {
		v := atomic.LoadUint32(reg)
		if v == 0 {
			return
		}
		if atomic.CompareAndSwapUint32(reg, v, v-1) { // before the shared count: see prepare
			subtractClamped(e.waiters, 1)
			return
		}
	}
}

// sleep waits on key for at most d.
func (e eventcount) sleep(key uint32, d time.Duration) {
	err := futex.Wait(e.seq, key, d)
	if err != nil && !errors.Is(err, futex.ErrTimeout) {
		// The kernel refused the wait (it should not: the word is
		// aligned and mapped). Sleep anyway so the caller's retry loop
		// cannot turn into a busy loop.
		time.Sleep(min(d, time.Millisecond))
	}
	// Timeouts and spurious wake-ups are re-checked by the caller.
}
