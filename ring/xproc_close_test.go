package ring

// Cross-process end of stream: CloseWrite made by one process seen by a
// consumer (drain, then io.EOF; a sleeper woken) and by a producer on a
// full ring (ErrClosed) in another.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/xproc"
)

func init() {
	roles["xp-pop-eof"] = xpRingRole("", xpPopEOF)
	roles["xp-push-closed"] = xpRingRole("", xpPushClosed)
}

// TestXProcCloseAndDrain checks end of stream across processes: a consumer
// started after the producer closed and exited drains everything and then
// gets io.EOF; a consumer asleep in Pop with no deadline wakes with io.EOF
// when another process closes the ring; and a producer facing a full ring
// gets ErrClosed, not ErrFull or an endless wait, once another process has
// closed it.
func TestXProcCloseAndDrain(t *testing.T) {
	seed := testSeed(t)
	a, path := xpArena(t, 1<<20)

	t.Run("drain", func(t *testing.T) {
		const n = 1000
		r, err := CreateSPSC(a, "drain", Config{Slots: 1024, SlotSize: 128})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Detach()
		common := []string{"path=" + path, "ring=drain", "seed=" + strconv.FormatUint(seed, 10), "n=" + strconv.Itoa(n)}
		xproc.Output(t, xproc.StartT(t, "xp-spsc-producer", append(common, "wait=adaptive")...), time.Now().Add(xpChildTimeout))
		if !r.IsClosed() || r.Len() != n {
			t.Fatalf("after the producer exited: IsClosed %v, Len %d; want true, %d", r.IsClosed(), r.Len(), n)
		}
		// mode=trypop: everything must be there already; ErrEmpty fails.
		out := xproc.Output(t, xproc.StartT(t, "xp-spsc-consumer", append(common, "wait=adaptive", "mode=trypop")...), time.Now().Add(xpChildTimeout))
		if got := xproc.IntField(t, out, "count"); got != n {
			t.Fatalf("consumer drained %d messages, want %d", got, n)
		}
	})

	for _, kind := range []string{"spsc", "mpmc"} {
		t.Run("wake-"+kind, func(t *testing.T) {
			name := "eof-" + kind
			r := xpCreate(t, a, kind, name, Config{Slots: 8, SlotSize: 64})
			defer r.Detach()
			child := xproc.StartT(t, "xp-pop-eof", "path="+path, "ring="+name, "kind="+kind)
			// Sleeps is counted just before the futex wait.
			xproc.WaitFor(t, "the consumer to sleep", child, func() bool { return r.Stats().Sleeps > 0 })
			time.Sleep(10 * time.Millisecond) // let it reach FUTEX_WAIT
			closed := time.Now()
			if err := r.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			out := xproc.Output(t, child, closed.Add(10*time.Second))
			woke := time.Unix(0, int64(xproc.IntField(t, out, "eof_unix_nano")))
			lat := woke.Sub(closed)
			t.Logf("consumer returned io.EOF %v after Close (pop blocked for %sms)", lat, xproc.Field(out, "blocked_ms"))
			if lat > 2*time.Second {
				t.Fatalf("consumer returned io.EOF %v after Close, want < 2s", lat)
			}
		})
	}

	// A producer that filled the ring learns of a Close made by another
	// process: its next pushes fail with ErrClosed rather than ErrFull
	// (mode=after: Close while no push is in flight), and a push asleep on
	// the full ring wakes with ErrClosed (mode=blocked).
	for _, kind := range []string{"spsc", "mpmc"} {
		for _, mode := range []string{"after", "blocked"} {
			t.Run("full-"+mode+"-"+kind, func(t *testing.T) {
				name := "full-" + mode + "-" + kind
				r := xpCreate(t, a, kind, name, Config{Slots: 2, SlotSize: 16})
				defer r.Detach()
				child := xproc.StartT(t, "xp-push-closed", "path="+path, "ring="+name, "kind="+kind, "mode="+mode)
				if mode == "blocked" {
					xproc.WaitFor(t, "the producer to sleep on the full ring", child, func() bool { return r.Stats().Sleeps > 0 })
					time.Sleep(10 * time.Millisecond) // let it reach FUTEX_WAIT
				} else {
					xproc.WaitFor(t, "the producer to fill the ring", child, func() bool { return r.Len() == 2 })
				}
				if err := r.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				out := xproc.Output(t, child, time.Now().Add(10*time.Second))
				t.Logf("child: %s", strings.TrimSpace(out))
				// What was committed before Close is still delivered.
				buf := make([]byte, r.SlotSize())
				for i := 0; i < 2; i++ {
					if n, err := r.TryPop(buf); err != nil || string(buf[:n]) != "m"+strconv.Itoa(i) {
						t.Fatalf("TryPop %d = %q, %v; want %q", i, buf[:n], err, "m"+strconv.Itoa(i))
					}
				}
				if _, err := r.TryPop(buf); err != io.EOF {
					t.Fatalf("TryPop after draining = %v, want io.EOF", err)
				}
			})
		}
	}
}

// xpPopEOF blocks in Pop with WaitBlock and context.Background() until the
// parent closes the (empty) ring, and reports when it returned. Args: path
// ring kind.
func xpPopEOF(_ context.Context, a xproc.Args, r Ring) error {
	r.SetWaitStrategy(WaitBlock)
	buf := make([]byte, r.SlotSize())
	start := time.Now()
	n, err := r.Pop(context.Background(), buf)
	now := time.Now()
	if err != io.EOF {
		return fmt.Errorf("Pop = %d, %v; want io.EOF", n, err)
	}
	// Wall-clock nanoseconds are comparable with the parent's; the
	// monotonic reading is not.
	fmt.Printf("eof_unix_nano=%d blocked_ms=%d\n", now.UnixNano(), now.Sub(start).Milliseconds())
	return nil
}

// xpPushClosed fills the ring (messages "m0", "m1", ...) with a WaitBlock
// handle. With mode=after it waits until the parent has closed the ring
// and checks that every kind of push then fails with ErrClosed; with
// mode=blocked it blocks in Push with no deadline and checks that the
// parent's Close wakes it with ErrClosed. Args: path ring kind mode.
func xpPushClosed(_ context.Context, a xproc.Args, r Ring) error {
	r.SetWaitStrategy(WaitBlock)
	for i := 0; ; i++ {
		err := r.TryPush([]byte("m" + strconv.Itoa(i)))
		if err == ErrFull && i == r.Slots() {
			break
		}
		if err != nil || i == r.Slots() {
			return fmt.Errorf("TryPush %d into a ring of %d slots: %v", i, r.Slots(), err)
		}
	}
	if a["mode"] == "blocked" {
		start := time.Now()
		err := r.Push(context.Background(), []byte("late"))
		fmt.Printf("push_blocked_ms=%d\n", time.Since(start).Milliseconds())
		if err != ErrClosed {
			return fmt.Errorf("Push blocked on a full ring that another process closed: %v, want ErrClosed", err)
		}
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for !r.IsClosed() {
		if time.Now().After(deadline) {
			return errors.New("the ring was not closed within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	var errs []error
	if err := r.TryPush([]byte("late")); err != ErrClosed {
		errs = append(errs, fmt.Errorf("TryPush: %v", err))
	}
	if _, err := r.TryPushBatch([][]byte{[]byte("late")}); err != ErrClosed {
		errs = append(errs, fmt.Errorf("TryPushBatch: %v", err))
	}
	if _, err := r.TryReserve(4); err != ErrClosed {
		errs = append(errs, fmt.Errorf("TryReserve: %v", err))
	}
	// Bounded, so that a Push that never notices the Close (and, being
	// always "ready", spins instead of sleeping) fails instead of hanging.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.Push(ctx, []byte("late")); err != ErrClosed {
		errs = append(errs, fmt.Errorf("Push: %v after %v", err, time.Since(start)))
	}
	if _, err := r.PushBatch(ctx, [][]byte{[]byte("late")}); err != ErrClosed {
		errs = append(errs, fmt.Errorf("PushBatch: %v", err))
	}
	if _, err := r.Reserve(ctx, 4); err != ErrClosed {
		errs = append(errs, fmt.Errorf("Reserve: %v", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("pushes on a full ring that another process closed, want ErrClosed: %w", errors.Join(errs...))
	}
	fmt.Println("pushes=ErrClosed")
	return nil
}
