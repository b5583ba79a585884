package ring

// The shared shell: the slow path of every blocking operation, written
// once for every ring kind. A kind's blocking method first makes a direct
// call to its own Try operation (no dynamic call on the fast path); only
// when that says full or empty does it enter the routines below, which
// wait with the handle's strategy (wait.go) and retry the kind's
// operation through kindOps. A new kind implements kindOps, binds it in
// its constructor (core.bind), and gets Push, Pop, PushBatch, PopBatch,
// Reserve and Peek with one line each.

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
	// (not caches or the Closed mirror) so that it agrees with the next
	// try, and it is called on the waiting goroutine only.
	ready(push bool) bool
}

// pushWait is the slow path of Push: the direct TryPush said ErrFull.
func (c *core) pushWait(ctx context.Context, msg []byte) error {
	_, err := waitFor(ctx, c, true, func() (struct{}, error) { return struct{}{}, c.ops.push(msg) })
	return err
}

// popWait is the slow path of Pop.
func (c *core) popWait(ctx context.Context, dst []byte) (int, error) {
	return waitFor(ctx, c, false, func() (int, error) { return c.ops.pop(dst) })
}

// popBatchWait is the slow path of PopBatch.
func (c *core) popBatchWait(ctx context.Context, bufs [][]byte) (int, error) {
	return waitFor(ctx, c, false, func() (int, error) { return c.ops.popBatch(bufs) })
}

// reserveWait is the slow path of Reserve.
func (c *core) reserveWait(ctx context.Context, n int) (Reservation, error) {
	return waitFor(ctx, c, true, func() (Reservation, error) { return c.ops.reserve(n) })
}

// peekWait is the slow path of Peek.
func (c *core) peekWait(ctx context.Context) (Message, error) {
	return waitFor(ctx, c, false, c.ops.peek)
}

// waitFor waits with the handle's strategy and retries try until it
// reports anything but busy (ErrFull for a producer, ErrEmpty for a
// consumer) or ctx ends.
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
			var zero T
			return zero, err
		}
		if v, err := try(); err != busy {
			return v, err
		}
	}
}

// pushAll is the slow path of PushBatch for every kind, entered after
// the direct pushBatch pushed done < len(msgs) messages and returned err
// (nil or ErrFull): push the rest, in as few batches as the ring's room
// allows, waiting while it is full. A call that waits counts one full
// event, however often it waits.
func (c *core) pushAll(ctx context.Context, msgs [][]byte, done int, err error) (int, error) {
	var w waiter
	defer w.done()
	for {
		if err == ErrFull {
			if w.ctx == nil {
				c.countFull()
				w.init(ctx, c, true)
			}
			if err := w.wait(); err != nil {
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
