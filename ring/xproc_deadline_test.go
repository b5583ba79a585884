package ring

// Deadlines and cancellation: blocking calls return the context's error
// close to its deadline or cancellation, for every wait strategy and both
// kinds, in a child process (with nothing else in it) and in-process.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
)

const (
	// xpTimeout is the deadline of the timeout tests.
	xpTimeout = 50 * time.Millisecond
	// xpChildSlack is how late after its deadline a blocking call in a
	// child may return. A late return is retried (xpAttempts in all) so
	// that one scheduling hiccup on a shared machine does not fail the
	// test, while a systematic overshoot still does.
	xpChildSlack = 100 * time.Millisecond
	xpAttempts   = 3
	// xpCancelAfter is when the cancellation test cancels. It is not a
	// multiple of maxSleep (100ms): a sleeper that missed the wake-up on
	// cancellation would notice only at its next periodic re-check, at
	// 200ms, 80ms late, which xpCancelSlack rejects.
	xpCancelAfter = 120 * time.Millisecond
	xpCancelSlack = 50 * time.Millisecond
)

func init() {
	roles["xp-timeouts"] = xpTimeouts
	roles["xp-cancel"] = xpCancel
}

var xpWaits = []WaitStrategy{WaitSpin, WaitYield, WaitBlock, WaitAdaptive}

// TestXProcTimeouts checks in a child process that Pop on an empty ring and
// Push on a full one return context.DeadlineExceeded close to a 50ms
// deadline, for every wait strategy and both kinds of ring.
func TestXProcTimeouts(t *testing.T) {
	a, path := xpArena(t, 1<<20)
	for _, kind := range []string{"spsc", "mpmc"} {
		xpCreate(t, a, kind, kind+"-empty", Config{Slots: 2, SlotSize: 16}).Detach()
		full := xpCreate(t, a, kind, kind+"-full", Config{Slots: 2, SlotSize: 16})
		for i := 0; i < 2; i++ {
			if err := full.TryPush([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		full.Detach()
	}
	out := xproc.Output(t, xproc.StartT(t, "xp-timeouts", "path="+path), time.Now().Add(xpChildTimeout))
	t.Logf("child:\n%s", out)
}

// TestXProcCancel checks in a child process that Pop with a context
// cancelled (not timed out) by another goroutine returns context.Canceled
// promptly for every wait strategy: the blocking strategies must be woken
// from the futex, not wait for their periodic re-check.
func TestXProcCancel(t *testing.T) {
	a, path := xpArena(t, 1<<20)
	for _, kind := range []string{"spsc", "mpmc"} {
		xpCreate(t, a, kind, kind+"-empty", Config{Slots: 2, SlotSize: 16}).Detach()
	}
	out := xproc.Output(t, xproc.StartT(t, "xp-cancel", "path="+path), time.Now().Add(xpChildTimeout))
	t.Logf("child:\n%s", out)
}

// TestTimeouts is TestXProcTimeouts in one process. The upper bound is
// generous because the machine may be shared; the log shows the actual
// overshoot, which should be a few milliseconds at most.
func TestTimeouts(t *testing.T) {
	const slack = 200 * time.Millisecond
	a, _ := xpArena(t, 1<<20)
	for _, kind := range []string{"spsc", "mpmc"} {
		empty := xpCreate(t, a, kind, kind+"-empty", Config{Slots: 2, SlotSize: 16})
		full := xpCreate(t, a, kind, kind+"-full", Config{Slots: 2, SlotSize: 16})
		for i := 0; i < 2; i++ {
			if err := full.TryPush([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		for _, w := range xpWaits {
			for _, op := range []string{"pop", "push"} {
				t.Run(fmt.Sprintf("%s/%s/%s", kind, op, w), func(t *testing.T) {
					r := empty
					if op == "push" {
						r = full
					}
					r.SetWaitStrategy(w)
					el, err := xpTimedOp(r, op)
					t.Logf("returned %v after %v (overshoot %v)", err, el, el-xpTimeout)
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("%s: err = %v, want context.DeadlineExceeded", op, err)
					}
					if el < xpTimeout || el > xpTimeout+slack {
						t.Fatalf("%s returned after %v, want within [%v, %v]", op, el, xpTimeout, xpTimeout+slack)
					}
				})
			}
		}
		if n := empty.Len(); n != 0 {
			t.Errorf("%s: empty ring has Len %d after timed-out pops", kind, n)
		}
		if n := full.Len(); n != 2 {
			t.Errorf("%s: full ring has Len %d after timed-out pushes, want 2", kind, n)
		}
	}
}

// xpTimeouts runs the deadline checks on the rings <kind>-empty and
// <kind>-full for both kinds. Args: path.
func xpTimeouts(args []string) error {
	a := xproc.ParseArgs(args)
	ar, err := arena.Open(a["path"])
	if err != nil {
		return err
	}
	defer ar.Close()
	for _, kind := range []string{"spsc", "mpmc"} {
		for _, op := range []string{"pop", "push"} {
			name := kind + "-empty"
			if op == "push" {
				name = kind + "-full"
			}
			r, err := xpOpenRing(ar, kind, name)
			if err != nil {
				return err
			}
			for _, w := range xpWaits {
				r.SetWaitStrategy(w)
				if err := xpRetry(func(attempt int) (bool, error) {
					el, err := xpTimedOp(r, op)
					fmt.Printf("kind=%s op=%s wait=%s attempt=%d elapsed=%v overshoot=%v err=%q\n", kind, op, w, attempt, el, el-xpTimeout, fmt.Sprint(err))
					if !errors.Is(err, context.DeadlineExceeded) {
						return false, fmt.Errorf("%s %s %s: err = %v, want context.DeadlineExceeded", kind, op, w, err)
					}
					if el < xpTimeout {
						return false, fmt.Errorf("%s %s %s: returned after %v, before its %v deadline", kind, op, w, el, xpTimeout)
					}
					if el > xpTimeout+xpChildSlack {
						return true, fmt.Errorf("%s %s %s: returned after %v, want at most %v", kind, op, w, el, xpTimeout+xpChildSlack)
					}
					return false, nil
				}); err != nil {
					return err
				}
			}
			r.Detach()
		}
	}
	return nil
}

// xpCancel blocks in Pop on <kind>-empty with a context that another
// goroutine cancels after xpCancelAfter. Args: path.
func xpCancel(args []string) error {
	a := xproc.ParseArgs(args)
	ar, err := arena.Open(a["path"])
	if err != nil {
		return err
	}
	defer ar.Close()
	for _, kind := range []string{"spsc", "mpmc"} {
		r, err := xpOpenRing(ar, kind, kind+"-empty")
		if err != nil {
			return err
		}
		buf := make([]byte, r.SlotSize())
		for _, w := range xpWaits {
			r.SetWaitStrategy(w)
			if err := xpRetry(func(attempt int) (bool, error) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				start := time.Now()
				go func() {
					time.Sleep(xpCancelAfter)
					cancel()
				}()
				_, err := r.Pop(ctx, buf)
				el := time.Since(start)
				fmt.Printf("kind=%s wait=%s attempt=%d elapsed=%v overshoot=%v err=%q\n", kind, w, attempt, el, el-xpCancelAfter, fmt.Sprint(err))
				if !errors.Is(err, context.Canceled) {
					return false, fmt.Errorf("%s %s: err = %v, want context.Canceled", kind, w, err)
				}
				if el < xpCancelAfter {
					return false, fmt.Errorf("%s %s: returned after %v, before the %v cancellation", kind, w, el, xpCancelAfter)
				}
				if el > xpCancelAfter+xpCancelSlack {
					return true, fmt.Errorf("%s %s: returned %v after cancellation, want at most %v", kind, w, el-xpCancelAfter, xpCancelSlack)
				}
				return false, nil
			}); err != nil {
				return err
			}
		}
		r.Detach()
	}
	return nil
}

// xpTimedOp runs Pop (on an empty ring) or Push (on a full one) with a
// deadline xpTimeout after its start and returns how long it took.
func xpTimedOp(r Ring, op string) (time.Duration, error) {
	buf := make([]byte, r.SlotSize())
	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(xpTimeout))
	defer cancel()
	var err error
	if op == "push" {
		err = r.Push(ctx, []byte("y"))
	} else {
		var n int
		n, err = r.Pop(ctx, buf)
		if err == nil {
			err = fmt.Errorf("popped a message of %d bytes from an empty ring", n)
		}
	}
	return time.Since(start), err
}

// xpRetry runs f up to xpAttempts times while it asks to retry (a timing
// bound missed, which one scheduling delay can cause) and returns its last
// error. Other failures are returned at once.
func xpRetry(f func(attempt int) (retry bool, err error)) error {
	var err error
	for i := 1; i <= xpAttempts; i++ {
		var retry bool
		if retry, err = f(i); err == nil || !retry {
			return err
		}
	}
	return fmt.Errorf("%w (in all %d attempts)", err, xpAttempts)
}
