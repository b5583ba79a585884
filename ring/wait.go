package ring

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/internal/spin"
)

// Adaptive waiting budgets. A cross-core hand-off takes well under a
// microsecond, so a short spin catches a peer that is mid-operation; a
// yield phase covers a peer that was descheduled briefly; after that the
// waiter sleeps in the futex and costs no CPU. Budgets are time, not
// iterations, because PAUSE costs ~10 cycles on some CPUs and ~140 on
// others.
const (
	adaptiveSpin  = 20 * time.Microsecond
	adaptiveYield = 100 * time.Microsecond
	// pausesPerCheck is how many pause instructions run between two checks
	// of the ring in a spin loop.
	pausesPerCheck = 4
	// fastChecks is how many checks run with a single pause first.
	fastChecks = 8
	// onePYield is how often (in spin steps) an adaptive waiter yields
	// when GOMAXPROCS is 1.
	onePYield = 4
	// firstSleep bounds a blocking call's first futex sleep, which waits
	// without a cancellation wake-up (waiter.sleep): the latency of a
	// cancellation that lands in it. Long against a busy ring's sleeps
	// (tens of microseconds), short against a person's patience.
	firstSleep = 10 * time.Millisecond
	// clockEvery is how many spin iterations pass between clock reads.
	clockEvery = 32
	// defaultMaxSleep bounds one futex sleep, so a waiter re-checks the ring (and
	// survives a peer killed between publishing and waking it) at least
	// this often.
	defaultMaxSleep = 100 * time.Millisecond
)

// waiter is the state of one blocking call's slow path.
type waiter struct {
	ctx      context.Context
	c        *core
	strategy WaitStrategy
	push     bool
	start    time.Time
	iter     int
	phase    int
	oneP     bool // GOMAXPROCS is 1: the adaptive spin phase yields now and then
	slept    bool
	// sleptNow says the last step slept in the futex; peerCheck is when
	// the other side's liveness was last checked (peersGone).
	sleptNow  bool
	peerCheck time.Time
	// stuck says the last look found the ring blocked by a held claim
	// (kindOps.blocked): sleeps are then at most stallSleep, so that the
	// repair of a dead holder's claim does not wait for a wake-up that
	// may never come.
	stuck bool
	// looked says the call has looked for a held claim before sleeping.
	looked bool
	// shortSlept says the call's first sleep, bounded by firstSleep
	// without a cancellation wake-up, is done.
	shortSlept bool
	stop       func() bool   // context.AfterFunc registration, made from the second sleep on
	cbDone     chan struct{} // closed when the AfterFunc callback has finished
}

func (w *waiter) init(ctx context.Context, c *core, push bool) {
	c.waiting.Add(1) // until done: a closer waits for it (closed.go)
	w.ctx, w.c, w.push = ctx, c, push
	w.strategy = c.WaitStrategy()
	// One P, and every handle of the other side is in this process: the
	// goroutine that would change the ring cannot run while we spin, so
	// the adaptive spin phase yields every onePYield steps. Not when the
	// other side may be another process: a pinned peer process has
	// GOMAXPROCS 1 too, its partner is answered fastest by spinning, and
	// a Gosched there measured tens of microseconds per round trip
	// (shmring bench, spsc/adaptive). Measured in docs/benchmarks.md.
	w.oneP = w.strategy == WaitAdaptive && runtime.GOMAXPROCS(0) == 1 && c.otherSideLocal(push)
}

// done ends a blocking call. A waiter that slept passes the baton: if the
// ring is still ready for its side and others sleep, it wakes one, so a
// wake-up it absorbed (it was woken for a message another consumer took
// or it left on its deadline) is not lost to the sleepers behind it.
func (w *waiter) done() {
	if w.stop != nil && !w.stop() {
		// The callback started: wait for it, so it never touches the
		// ring after we return (the caller may unmap the arena next).
		<-w.cbDone
	}
	if w.slept {
		ec := w.c.notEmpty
		if w.push {
			ec = w.c.notFull
		}
		if atomic.LoadUint32(ec.waiters) != 0 && w.c.ops.ready(w.push) {
			ec.wake(1, w.c.peer)
		}
	}
	if w.c != nil { // init ran (pushAll inits only once it must wait)
		// Last: releases this call's accesses to the handle's private
		// state to a closer whose load then sees the count drop.
		w.c.waiting.Add(-1)
	}
}

// wait performs one waiting step and returns the context's error if it
// ended. The caller retries its operation after every step.
func (w *waiter) wait() error {
	w.iter++
	w.sleptNow = false
	switch w.strategy {
	case WaitSpin:
		w.spin()
		if w.iter%1024 == 0 {
			return ctxErr(w.ctx)
		}
		return nil
	case WaitYield:
		runtime.Gosched()
		if w.iter%16 == 0 {
			return ctxErr(w.ctx)
		}
		return nil
	case WaitBlock:
		return w.sleep()
	}
	// Adaptive: spin, then yield, then sleep; the phase advances on the
	// clock, read every clockEvery steps.
	if w.iter == 1 {
		w.start = time.Now()
	}
	if w.phase < phaseSleep && w.iter%clockEvery == 0 {
		if err := ctxErr(w.ctx); err != nil {
			return err
		}
		switch el := time.Since(w.start); {
		case el >= adaptiveSpin+adaptiveYield:
			w.phase = phaseSleep
		case el >= adaptiveSpin:
			w.phase = phaseYield
		}
	}
	switch w.phase {
	case phaseSpin:
		if w.oneP && w.iter%onePYield == 0 {
			runtime.Gosched()
			return nil
		}
		w.spin()
		return nil
	case phaseYield:
		runtime.Gosched()
		return nil
	}
	return w.sleep()
}

// spin is one step of a spin phase: the hardware wait on the word the
// kind names (spinWait), or spinStep's pauses. The word's value is read
// here, after the try that found the ring busy: a change in between makes
// the wait last its budget (spinWaitBudget), never miss a message, since
// the caller retries whatever the wait did.
func (w *waiter) spin() {
	// WFE has no timeout of its own (a step without a store lasts until
	// the event stream, up to 100 µs), which would stretch the spin
	// phase's step-counted checks; it stays unwired until measured.
	if m := spin.Current(); w.iter <= monitorAfter || !m.Timed() || m == spin.MethodWFE {
		spinWait(nil, 0, w.iter) // spinStep, or nothing with SHMRING_WAIT=none
		return
	}
	switch a64, a32 := w.c.ops.watch(w.push); {
	case a64 != nil:
		spinWait64(a64, atomic.LoadUint64(a64), w.iter)
	case a32 != nil:
		spinWait(a32, atomic.LoadUint32(a32), w.iter)
	default:
		spinStep(w.iter)
	}
}

// usePause selects the pause instruction in spin loops; benchmarks turn it
// off to measure what it buys (docs/ring.md).
var usePause = true

// spinStep pauses between two checks of the ring: one pause for the first
// fastChecks checks (a ping-pong reply lands within a few hundred
// nanoseconds, and every pause there is latency), then pausesPerCheck (a
// consumer that keeps polling a stream's hot lines slows the producer
// down; backing off lets it get ahead, and the consumer then drains in a
// batch). Measured in docs/benchmarks.md.
func spinStep(iter int) {
	if !usePause {
		return
	}
	if iter <= fastChecks {
		spin.Pause()
		return
	}
	spin.PauseN(pausesPerCheck)
}

// maxSleep is defaultMaxSleep; tests raise it to make a lost wake-up
// visible as a long stall.
var maxSleep = defaultMaxSleep

const (
	phaseSpin = iota
	phaseYield
	phaseSleep
)

// sleep registers on the eventcount, re-checks, and sleeps in the futex
// until woken, the context's deadline, or maxSleep.
func (w *waiter) sleep() error {
	if err := ctxErr(w.ctx); err != nil {
		return err
	}
	c := w.c
	if !w.looked {
		// Before a call's first sleep: if a held claim blocks the ring,
		// sleep briefly (stallSleep) so its repair is not left to a
		// wake-up that may never come; if its holder is already known
		// dead, repair it and retry at once.
		w.looked = true
		if w.unblockNow() {
			return nil
		}
	}
	ec, peer := c.notEmpty, c.peer
	reg := &peer.SleepingEmpty
	if w.push {
		ec, reg = c.notFull, &peer.SleepingFull
	}
	d := maxSleep
	if w.stop == nil && w.ctx.Done() != nil && !w.shortSlept {
		// The call's first sleep is bounded by firstSleep instead of
		// registering the wake-up below (context.AfterFunc allocates):
		// most sleeps of a busy ring end well within it, and a
		// cancellation is then seen within firstSleep. Later sleeps
		// register.
		w.shortSlept = true
		d = firstSleep
	} else if w.stop == nil && w.ctx.Done() != nil {
		// Cancellation without a deadline must wake us: bump Seq (so a
		// racing futex_wait fails with EAGAIN) and wake the word's
		// sleepers, who re-check and go back to sleep if it was not for
		// them.
		done := make(chan struct{})
		w.cbDone = done
		w.stop = context.AfterFunc(w.ctx, func() {
			defer close(done)
			ec.wakeAll(peer)
		})
	}
	if w.stuck {
		d = min(d, stallSleep)
	}
	if dl, ok := w.ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return w.ctx.Err()
		}
		d = min(d, left)
	}
	// Counters and the activity stamp before registering, so that the
	// window in which a notifier finds us registered but not yet asleep
	// stays short.
	if w.push {
		c.flushIn()
	} else {
		c.flushOut()
	}
	c.beat()
	key := ec.prepare(reg)
	if c.ops.ready(w.push) || c.shut.Load() != 0 { // shut after prepare: see closed.go
		ec.cancel(reg)
		return nil
	}
	// After prepare: a cancellation whose wake-up bumped Seq before we
	// read the key would otherwise be slept through (ctx.Err is set before
	// AfterFunc callbacks run).
	if err := ctxErr(w.ctx); err != nil {
		ec.cancel(reg)
		return err
	}
	w.slept, w.sleptNow = true, true
	atomic.AddUint64(&peer.Sleeps, 1)
	ec.sleep(key, d)
	ec.cancel(reg)
	return ctxErr(w.ctx)
}

// unblock runs after a try that found the ring still busy, after a sleep
// or every 64 steps: it looks whether a held claim blocks the ring and
// repairs it if its holder is dead (kindOps.blocked). It reports whether
// it repaired something; the waiter then retries at once.
func (w *waiter) unblock() bool {
	if !w.sleptNow && w.iter%64 != 0 {
		return false
	}
	return w.unblockNow()
}

func (w *waiter) unblockNow() bool {
	repaired, stuck := w.c.ops.blocked(w.push)
	w.stuck = stuck
	if repaired {
		w.iter, w.phase = 0, phaseSpin
	}
	return repaired
}

// peerCheckEvery is how often a waiting call checks whether the other
// side is still alive.
const peerCheckEvery = 100 * time.Millisecond

// peersGone reports, at most every peerCheckEvery of waiting, whether
// every handle of the other side is dead (ErrPeerDead). It runs after a
// try that found the ring still busy, so a message published just before
// its producer died is taken first. It looks only after a sleep or every
// 256 steps, so that a spinning waiter reads the clock rarely.
func (w *waiter) peersGone() bool {
	if !w.sleptNow && w.iter%256 != 0 {
		return false
	}
	now := time.Now()
	if w.peerCheck.IsZero() {
		w.peerCheck = now
		return false
	}
	if now.Sub(w.peerCheck) < peerCheckEvery {
		return false
	}
	w.peerCheck = now
	// ready last: once the deaths are seen, everything the dead processes
	// stored is visible, so a publish (or a release, or a close) that
	// landed after the caller's try is found here and retried instead of
	// being reported as ErrPeerDead. ready reads the shared words, not
	// the Closed mirror, so a close whose closer died before the mirror
	// store is found too (the retry then says io.EOF or ErrClosed).
	return w.c.otherSideDead(w.push) && !w.c.ops.ready(w.push)
}

// ctxErr is ctx.Err() for contexts that can end, nil otherwise, without
// the lock cancelCtx.Err takes when Done is already nil.
func ctxErr(ctx context.Context) error {
	if ctx.Done() == nil {
		return nil
	}
	return ctx.Err()
}
