package ring

// Closed handles: every operation on a handle after its own Close or
// Detach, or after the Close of the arena handle it was made through,
// returns an error matching ErrClosed instead of touching memory that may
// be gone (arena.Close used to unmap it under the handle: "fatal error:
// fault"); after a truncation of the arena file, one matching ErrCorrupt
// instead of SIGBUS.
//
// Invariants:
//
//   - c.shut goes once from 0 to shutHandle (Detach), shutArena (the
//     arena handle's Close) or shutTruncated (a truncation the arena
//     found), by CAS, and never back. It is private to the process: a
//     handle's closing is nobody else's business, and the check must not
//     touch shared memory.
//   - Every operation loads c.shut first (one load of a word on the line
//     of mem and the geometry, which it reads next anyway) and touches
//     nothing of the ring if it is set. A blocking call re-checks it at
//     every retry (the retry is the operation) and, registered, just
//     before it sleeps.
//   - A handle made through an arena holds a pin on the arena's mapping
//     (arena.Pin) from before its first access to the ring until Detach.
//     The pin keeps the range mapped after arena.Close (replaced by
//     anonymous memory: arena/pin.go), so an operation that loaded shut
//     just before it was set finishes on that memory instead of faulting.
//   - Before the memory changes under the handle (Detach releases the
//     peer entry; arena.Close replaces the mapping),
//     the closer waits until the handle's blocking calls have left the
//     slow path (c.waiting == 0), having woken its sleepers; the wait is
//     bounded by quiesceMax.
//
// Ordering: an operation's load of shut orders nothing; it only decides
// whether the operation touches the ring at all. The closer stores shut
// (sequentially consistent) and then
// bumps and wakes both futex words; a sleeper registers (a sequentially
// consistent add) and then loads shut before it sleeps. Either the sleeper
// sees shut, or the bump comes after it read its key and its futex_wait
// returns at once: the eventcount argument (eventcount.go) with shut as
// the condition.
//
// A late operation (past its check when arena.Close replaced the mapping)
// runs on zeroed private memory, so its result means nothing: a push it
// reports done is delivered only if it landed before the replacement. It
// may leave the handle's private positions wrong, which nothing reads
// again: every later operation sees shut. A handle over caller memory
// (New, Attach) has no pin: the caller owns that memory and must not free
// or unmap it under a handle that is not closed.
//
// A truncation needs no quiesce: by the time the handle hears of it the
// arena has replaced the mapping already (touching the lost pages to wake
// anyone would fault), so its sleepers find shut when their futex sleep
// ends, within maxSleep.

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/futex"
)

// Values of core.shut.
const (
	shutHandle uint32 = 1 + iota
	shutArena
	shutTruncated
)

// quiesceMax bounds how long a closer waits for the handle's blocking
// calls to leave the slow path. They leave at their next step (a spin, a
// yield, or the futex wake-up the closer sends), so only a goroutine the
// scheduler keeps off the CPU for that long comes near it; a closer that
// gives up goes on (an arena.Close safely: the late call then finishes on
// the replacement memory).
const quiesceMax = time.Second

// shutErr is the error of an operation on a shut handle.
func (c *core) shutErr() error {
	switch c.shut.Load() {
	case shutArena:
		return errArenaClosed
	case shutTruncated:
		return errTruncated
	}
	return errHandleClosed
}

// pinArena pins a's mapping for this handle; it runs before the handle
// first touches its region.
func (c *core) pinArena(a *arena.Arena) error {
	p, err := a.Pin(c.arenaGone)
	if errors.Is(err, arena.ErrClosed) {
		return errArenaClosed
	}
	if err != nil {
		return err // a truncation: matches arena.ErrTruncated
	}
	c.pin = p
	return nil
}

// arenaGone is the pin's callback: the arena handle is closing (the
// memory is still the file's until this returns) or found its file
// truncated (the memory is anonymous already).
func (c *core) arenaGone(cause error) {
	why := shutArena
	if errors.Is(cause, arena.ErrTruncated) {
		why = shutTruncated
	}
	if !c.shut.CompareAndSwap(0, why) {
		return // Detach came first
	}
	if why == shutArena {
		c.quiesce()
	}
}

// detach is Detach after its idempotency test: shut the handle and let
// its blocking calls leave, then, if the handle shut itself (the arena
// did not: the ring's memory is still there), publish its counters and
// free its peer entry; in every case release its pin last. It quiesces
// even when the arena shut the handle first: that arena's Close may have
// given up waiting, or a truncation does not wait, and the last Unpin
// unmaps the range under any call still in it.
func (c *core) detach() {
	c.shut.CompareAndSwap(0, shutHandle)
	c.quiesce()
	if c.shut.Load() == shutHandle {
		c.flushIn()
		c.flushOut()
		c.releasePeer()
		if c.subscriber {
			// A tethered subscriber's entry no longer holds the producer
			// back: wake it if it sleeps on us. The release's CAS is the
			// StoreLoad fence before notify's load.
			c.notFull.notify(0, c.peer)
		}
	}
	c.pin.Unpin() // nil-safe
	if d, ok := c.ops.(dataMapper); ok {
		d.unmapData() // after the calls left (quiesce): nothing uses the view
	}
}

// tailForClose is the first step of SPSC.Close: it shuts the handle, lets
// its blocking calls leave (a producer blocked in Push on another
// goroutine writes the private tail that Close reads next), and returns
// that tail, at which Close ends the stream if the handle is still the
// producer; unsynced if the arena shut the handle first (nothing to end:
// the memory is gone).
func (r *SPSC) tailForClose() uint64 {
	if !r.shut.CompareAndSwap(0, shutHandle) {
		return unsynced
	}
	r.quiesce()
	return r.p.tail
}

// quiesce wakes the handle's sleepers and waits, at most quiesceMax, until
// none of its blocking calls is in the slow path. The caller set shut.
func (c *core) quiesce() {
	if c.waiting.Load() == 0 {
		return
	}
	deadline := time.Now().Add(quiesceMax)
	// Acquire: a load that sees 0 pairs with the decrement each call
	// makes last, after its last access to the handle's private state.
	for i := 0; c.waiting.Load() != 0 && time.Now().Before(deadline); i++ {
		if i%64 == 0 {
			// One wake after the store of shut is enough (see the
			// ordering above); a repeat every few milliseconds costs
			// little and covers a futex that refused the first.
			c.wakeSleepers()
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// wakeSleepers wakes every sleeper on both of the ring's futex words:
// this handle's, which find shut, and other handles', which re-check and
// sleep again. It bypasses eventcount.wake, whose idle-wake repair would
// take the arena's locks while the arena may be closing.
func (c *core) wakeSleepers() {
	for _, seq := range [...]*uint32{c.notEmpty.seq, c.notFull.seq} {
		atomic.AddUint32(seq, 1) // makes a racing futex_wait return EAGAIN
		_, _ = futex.WakeAll(seq)
	}
}

// recoverShut is Recover's check before it reads the ring. It asks the
// arena whether its file was truncated (one fstat), and reports whether
// the handle is shut: with a zero Recovery if closed, with Truncated if
// the file was truncated (found now or before).
func (c *core) recoverShut() (Recovery, bool) {
	if c.shut.Load() == 0 && c.pin != nil {
		if err := c.arena.CheckSize(); errors.Is(err, arena.ErrTruncated) {
			// The pin's callback says so too, unless a racing CheckSize
			// found it first and has not reached this handle yet.
			c.shut.CompareAndSwap(0, shutTruncated)
		}
	}
	switch c.shut.Load() {
	case 0:
		return Recovery{}, false
	case shutTruncated:
		return Recovery{Truncated: true}, true
	}
	return Recovery{}, true
}

// constructed ends a constructor that pinned the arena (create, open):
// if the arena handle closed or broke meanwhile, the handle may have
// worked on the replacement memory, not the ring, so the constructor
// fails with that instead of what it saw there (ErrNotReady, say); a
// failed constructor releases its pin, as the handle is dropped.
func (c *core) constructed(err *error) {
	if c.shut.Load() != 0 {
		*err = c.shutErr()
	}
	if *err != nil {
		if d, ok := c.ops.(dataMapper); ok {
			d.unmapData()
		}
		c.pin.Unpin()
		c.pin = nil
	}
}
