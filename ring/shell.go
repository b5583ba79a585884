package ring

// The shared shell: the slow path of every blocking operation, written
// once for every ring kind. A kind's blocking method first makes a direct
// call to its own Try operation (no dynamic call on the fast path); only
// when that says full or empty does it enter the routines below, which
// wait with the handle's strategy (wait.go) and retry the kind's
// operation through kindOps. A new kind implements kindOps, binds it in
// its constructor (core.bind), and gets Push, Pop, PushBatch, PopBatch,
// Reserve and Peek by handing its direct Try result to the entry points
// below (one to three lines each), and its Try* event counting from the
// counted* helpers.

import "context"

// kindOps is what a ring kind gives the shared slow path. The operations
// are the kind's Try operations without their event counting (a blocking
// call counts one full or empty event, however long it waits).
type kindOps interface {
	push(msg []byte) error
	pop(dst []byte) (int, error)
	pushBatch(msgs [][]byte) (int, error)
	popBatch(bufs [][]byte) (int, error)
	reserve(n int) (Reservation, error)
	peek() (Message, error)
	// ready reports whether a producer (push) or consumer operation could
	// now make progress or fail for good (closed, corrupt): the condition
	// the eventcount re-checks before sleeping. It reads the shared words
	// (not the Closed mirror) and changes no private state, and it is
	// called on the waiting goroutine only. A true answer makes the waiter
	// retry at once, so every try must take what ready saw (a message
	// visible through its slot word included) or report its error within
	// a bounded number of retries.
	ready(push bool) bool
	// watch names the shared word whose change would make a waiting
	// producer (push) or consumer ready, for the spin phase's hardware
	// wait (spinwait.go): a 64-bit word (w64) or a 32-bit one (w32), or
	// neither when there is no single such word. Only a hint: the waiter
	// re-tries the operation after every wait whatever the word did.
	watch(push bool) (w64 *uint64, w32 *uint32)
	// blocked looks at what blocks a waiting producer (push) or consumer:
	// if it is a claim held by a dead (or timed-out) handle, it repairs
	// it (mpmc_repair.go). It reports whether it repaired something and
	// whether a held claim, rather than a full or empty ring, blocks.
	blocked(push bool) (repaired, stuck bool)
	// repairClaims repairs every claim of a dead handle (Recover);
	// deadIdx >= 0 is an entry to count as dead whatever its lock says.
	repairClaims(deadIdx int) (skipped, redelivered int)
}

// The entry points. Each takes the result of the kind's direct Try call
// and enters the wait only if that said full (producer) or empty
// (consumer); the Try call already counted that event once.

// pushWait is the slow path of Push. Each entry point is small enough to
// be inlined into the kind's method, so a call that need not wait makes no
// call beyond its Try.
func (c *core) pushWait(ctx context.Context, msg []byte, err error) error {
	if err != ErrFull {
		return err
	}
	return c.pushSlow(ctx, msg)
}

// popWait is the slow path of Pop.
func (c *core) popWait(ctx context.Context, dst []byte, n int, err error) (int, error) {
	if err != ErrEmpty {
		return n, err
	}
	return c.popSlow(ctx, dst)
}

// popBatchWait is the slow path of PopBatch.
func (c *core) popBatchWait(ctx context.Context, bufs [][]byte, n int, err error) (int, error) {
	if err != ErrEmpty {
		return n, err
	}
	return c.popBatchSlow(ctx, bufs)
}

// reserveWait is the slow path of Reserve.
func (c *core) reserveWait(ctx context.Context, n int, res Reservation, err error) (Reservation, error) {
	if err != ErrFull {
		return res, err
	}
	return c.reserveSlow(ctx, n)
}

// peekWait is the slow path of Peek.
func (c *core) peekWait(ctx context.Context, m Message, err error) (Message, error) {
	if err != ErrEmpty {
		return m, err
	}
	return c.peekSlow(ctx)
}

func (c *core) pushSlow(ctx context.Context, msg []byte) error {
	_, err := waitFor(ctx, c, true, func() (struct{}, error) { return struct{}{}, c.ops.push(msg) })
	return err
}

func (c *core) popSlow(ctx context.Context, dst []byte) (int, error) {
	return waitFor(ctx, c, false, func() (int, error) { return c.ops.pop(dst) })
}

func (c *core) popBatchSlow(ctx context.Context, bufs [][]byte) (int, error) {
	return waitFor(ctx, c, false, func() (int, error) { return c.ops.popBatch(bufs) })
}

func (c *core) reserveSlow(ctx context.Context, n int) (Reservation, error) {
	return waitFor(ctx, c, true, func() (Reservation, error) { return c.ops.reserve(n) })
}

func (c *core) peekSlow(ctx context.Context) (Message, error) {
	return waitFor(ctx, c, false, c.ops.peek)
}

// counted, countedN, countedRes and countedMsg finish a kind's Try call:
// they count the call's full or empty event, once, and pass its result on.
// Inlined: a call that succeeded pays one nil check.
func (c *core) counted(err error) error {
	if err != nil {
		c.countBusy(err)
	}
	return err
}

func (c *core) countedN(n int, err error) (int, error) {
	if err != nil {
		c.countBusy(err)
	}
	return n, err
}

func (c *core) countedRes(res Reservation, err error) (Reservation, error) {
	if err != nil {
		c.countBusy(err)
	}
	return res, err
}

func (c *core) countedMsg(m Message, err error) (Message, error) {
	if err != nil {
		c.countBusy(err)
	}
	return m, err
}

func (c *core) countBusy(err error) {
	// A type assertion and pointer comparisons: see busyError.
	switch e, _ := err.(*busyError); e {
	case errFull:
		c.countFull()
	case errEmpty:
		c.countEmpty()
	}
}

// waitFor waits with the handle's strategy and retries try until it
// reports anything but busy (ErrFull for a producer, ErrEmpty for a
// consumer) or ctx ends. Once the wait sees ctx end it tries one last
// time and returns ctx's error only if the ring was still busy then: a
// message published (or room made) before the cancellation is never
// reported as a cancelled call, whatever order the wake-up and the
// cancellation reach the waiter in. A caller that cancels once it knows
// its peer is done (it exited after its last push) then always receives
// that last message.
func waitFor[T any](ctx context.Context, c *core, push bool, try func() (T, error)) (T, error) {
	busy := ErrEmpty
	if push {
		busy = ErrFull
	}
	var w waiter
	w.init(ctx, c, push)
	defer w.done()
	for {
		if err := w.wait(); err != nil {
			if v, terr := try(); terr != busy {
				return v, terr
			}
			var zero T
			return zero, err
		}
		v, err := try()
		if err != busy {
			return v, err
		}
		if w.unblock() {
			continue
		}
		if w.peersGone() {
			return v, ErrPeerDead
		}
	}
}

// pushAll is PushBatch for every kind after its direct pushBatch call,
// which pushed done messages and returned err: unless that was all of
// them or a failure, push the rest, in as few batches as the ring's room
// allows, waiting while it is full. A call that waits counts one full
// event per message it still had to push then, however often it waits.
func (c *core) pushAll(ctx context.Context, msgs [][]byte, done int, err error) (int, error) {
	if done == len(msgs) || err != nil && err != ErrFull {
		return done, err
	}
	var w waiter
	defer w.done()
	for {
		if err == ErrFull {
			if w.ctx == nil {
				c.countFullN(uint64(len(msgs) - done)) // each message still to push was blocked
				w.init(ctx, c, true)
			} else if !w.unblock() && w.peersGone() {
				return done, ErrPeerDead
			}
			if err := w.wait(); err != nil {
				// One last try, as waitFor's: room made before the
				// cancellation is used.
				n, terr := c.ops.pushBatch(msgs[done:])
				done += n
				if terr == nil && done == len(msgs) {
					return done, nil
				}
				if terr != nil && terr != ErrFull {
					return done, terr
				}
				return done, err
			}
		} else if err != nil {
			return done, err
		} else {
			w.iter, w.phase = 0, phaseSpin // progress: spin again before sleeping
		}
		if done == len(msgs) {
			return done, nil
		}
		var n int
		n, err = c.ops.pushBatch(msgs[done:])
		done += n
	}
}
