package ring

// A handle after its own Close or Detach, or after the Close of the arena
// handle it was made through: every operation returns an error matching
// ErrClosed, never faults, never panics (closed.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
)

// closers are the ways a handle stops touching its ring.
var closers = []struct {
	name  string
	arena bool // needs a ring in an arena; closes the arena handle, not the ring handle
	close func(r Ring, a *arena.Arena) error
}{
	{"Close", false, func(r Ring, _ *arena.Arena) error { return r.Close() }},
	{"Detach", false, func(r Ring, _ *arena.Arena) error { return r.Detach() }},
	{"arena.Close", true, func(_ Ring, a *arena.Arena) error { return a.Close() }},
}

// closedSetup is a ring with a handle under test (r, made through its own
// arena handle ra when the ring is in an arena) and another handle (o)
// that stays open.
type closedSetup struct {
	r, o Ring
	ra   *arena.Arena
}

func newClosedSetup(t *testing.T, kind ringKind, inArena bool, cfg Config) closedSetup {
	t.Helper()
	if !inArena {
		r, mem := newHeapRing(t, kind, cfg)
		o := attachHeap(t, kind, mem)
		t.Cleanup(func() { o.Close() })
		return closedSetup{r: r, o: o}
	}
	a, path := xpArena(t, 1<<20)
	name := fmt.Sprintf("ring%d", rand.Int())
	o, err := Create(a, name, kind.region(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	ra, err := arena.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ra.Close() })
	r, err := Open(ra, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return closedSetup{r: r, o: o, ra: ra}
}

// checkClosedOps runs every operation on the shut handle r and checks that
// each returns an error matching every one of want, or a zero value. res
// and m were taken before the close.
func checkClosedOps(t *testing.T, r Ring, res Reservation, m Message, want ...error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg, buf := []byte("m"), make([]byte, 64)
	errs := map[string]error{
		"TryPush":          r.TryPush(msg),
		"TryPush too long": r.TryPush(make([]byte, 1<<16)),
		"TryPop":           second(r.TryPop(buf)),
		"TryPushBatch":     second(r.TryPushBatch([][]byte{msg, msg})),
		"TryPushBatch nil": second(r.TryPushBatch(nil)),
		"TryPopBatch":      second(r.TryPopBatch([][]byte{buf})),
		"TryPopBatch nil":  second(r.TryPopBatch(nil)),
		"TryReserve":       second(r.TryReserve(1)),
		"Commit":           r.Commit(res, 1),
		"TryPeek":          second(r.TryPeek()),
		"Release":          r.Release(m),
		"Push":             r.Push(ctx, msg),
		"Pop":              second(r.Pop(ctx, buf)),
		"PushBatch":        second(r.PushBatch(ctx, [][]byte{msg})),
		"PopBatch":         second(r.PopBatch(ctx, [][]byte{buf})),
		"Reserve":          second(r.Reserve(ctx, 1)),
		"Peek":             second(r.Peek(ctx)),
		"CloseWrite":       r.CloseWrite(),
		"WaitPeers":        r.WaitPeers(ctx, 0, 1),
	}
	for op, err := range errs {
		for _, w := range want {
			if !errors.Is(err, w) {
				t.Errorf("%s on a closed handle: %v, want errors.Is %v", op, err, w)
			}
		}
	}
	if n := r.Len(); n != 0 {
		t.Errorf("Len: %d", n)
	}
	if st := r.Stats(); st != (Stats{}) {
		t.Errorf("Stats: %+v, want zero", st)
	}
	if p := r.Peers(); p != nil {
		t.Errorf("Peers: %+v, want nil", p)
	}
	if rec := r.Recover(); rec != (Recovery{}) {
		t.Errorf("Recover: %+v, want zero", rec)
	}
	if r.IsClosed() {
		t.Error("IsClosed: true, want false (a closed handle reads nothing)")
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
	if err := r.Detach(); err != nil {
		t.Errorf("Detach again: %v", err)
	}
	if a := testing.AllocsPerRun(100, func() { r.TryPush(msg); r.TryPop(buf) }); a != 0 {
		t.Errorf("TryPush+TryPop on a closed handle: %v allocs, want 0", a)
	}
}

func second[T any](_ T, err error) error { return err }

// TestOpsAfterClose: after Close, Detach, or the Close of its arena
// handle, every operation on the handle returns ErrClosed (and
// arena.ErrClosed after the arena's), including a Commit and a Release of
// a reservation and a peeked message taken before; the ring's other
// handle goes on.
func TestOpsAfterClose(t *testing.T) {
	for _, k := range kinds {
		for _, inArena := range []bool{false, true} {
			for _, cl := range closers {
				if cl.arena && !inArena {
					continue
				}
				where := "heap"
				if inArena {
					where = "arena"
				}
				t.Run(k.name+"/"+where+"/"+cl.name, func(t *testing.T) {
					s := newClosedSetup(t, k.kind, inArena, Config{Slots: 8, SlotSize: 64})
					r := s.r
					for i := 0; i < 3; i++ {
						if err := r.TryPush([]byte("x")); err != nil {
							t.Fatal(err)
						}
					}
					m, err := r.TryPeek()
					if err != nil {
						t.Fatal(err)
					}
					res, err := r.TryReserve(8)
					if err != nil {
						t.Fatal(err)
					}
					if err := cl.close(r, s.ra); err != nil {
						t.Fatal(err)
					}
					want := []error{ErrClosed, errHandleClosed}
					if cl.arena {
						want = []error{ErrClosed, arena.ErrClosed, errArenaClosed}
					}
					checkClosedOps(t, r, res, m, want...)

					// The other handle still works on the ring.
					if err := s.o.TryPush([]byte("y")); err != nil && !(errors.Is(err, ErrClosed) && cl.name == "Close" && k.kind == kindSPSC) {
						t.Fatalf("other handle's push: %v", err) // (an SPSC producer's Close ended the stream)
					}
					if _, err := s.o.TryPop(make([]byte, 64)); err != nil {
						t.Fatalf("other handle's pop: %v", err)
					}
				})
			}
		}
	}
}

// TestBlockedOpsWakeOnClose: a blocking call waiting in another goroutine
// (asleep in the futex, yielding, or spinning) returns ErrClosed when its
// handle is closed or detached or its arena handle closed, by the time
// that Close returns.
func TestBlockedOpsWakeOnClose(t *testing.T) {
	ops := []struct {
		name string
		push bool
		call func(ctx context.Context, r Ring) error
	}{
		{"Pop", false, func(ctx context.Context, r Ring) error { return second(r.Pop(ctx, make([]byte, 64))) }},
		{"PopBatch", false, func(ctx context.Context, r Ring) error { return second(r.PopBatch(ctx, [][]byte{make([]byte, 64)})) }},
		{"Peek", false, func(ctx context.Context, r Ring) error { return second(r.Peek(ctx)) }},
		{"Push", true, func(ctx context.Context, r Ring) error { return r.Push(ctx, []byte("late")) }},
		{"PushBatch", true, func(ctx context.Context, r Ring) error { return second(r.PushBatch(ctx, [][]byte{[]byte("late")})) }},
		{"Reserve", true, func(ctx context.Context, r Ring) error { return second(r.Reserve(ctx, 4)) }},
	}
	for _, k := range kinds {
		for _, cl := range closers {
			for _, op := range ops {
				for _, w := range []WaitStrategy{WaitBlock, WaitAdaptive, WaitSpin} {
					t.Run(fmt.Sprintf("%s/%s/%s/%s", k.name, cl.name, op.name, w), func(t *testing.T) {
						s := newClosedSetup(t, k.kind, cl.arena, Config{Slots: 2, SlotSize: 64})
						r := s.r
						r.SetWaitStrategy(w)
						if op.push {
							for i := 0; i < r.Slots(); i++ {
								if err := r.TryPush([]byte("fill")); err != nil {
									t.Fatal(err)
								}
							}
						}
						ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
						defer cancel()
						done := make(chan error, 1)
						go func() { done <- op.call(ctx, r) }()
						waitBlocked(t, r, w, done)
						start := time.Now()
						if err := cl.close(r, s.ra); err != nil {
							t.Fatal(err)
						}
						closed := time.Since(start)
						// The closer waits for the call to leave the slow path
						// (it does not leave it sleeping until its 100 ms bound).
						if n := r.(handle).base().waiting.Load(); n != 0 {
							t.Fatalf("%s returned with %d blocking calls of the handle still waiting", cl.name, n)
						}
						var err error
						select {
						case err = <-done:
						case <-time.After(time.Second):
							t.Fatalf("%s still blocked 1s after %s returned (in %v)", op.name, cl.name, closed)
						}
						if !errors.Is(err, ErrClosed) || cl.arena && !errors.Is(err, arena.ErrClosed) {
							t.Fatalf("%s woken by %s: %v, want ErrClosed", op.name, cl.name, err)
						}
						if closed > 500*time.Millisecond {
							t.Errorf("%s took %v with a blocked %s", cl.name, closed, op.name)
						}
					})
				}
			}
		}
	}
}

// waitBlocked waits until the blocking call started on r is waiting: for
// WaitBlock until it sleeps in the futex, else a few milliseconds into its
// spin or yield.
func waitBlocked(t *testing.T, r Ring, w WaitStrategy, done chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w == WaitBlock && r.Stats().Sleeps == 0 {
		select {
		case err := <-done:
			t.Fatalf("the call returned before blocking: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the call never slept")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond) // into FUTEX_WAIT, or well into the spin
	select {
	case err := <-done:
		t.Fatalf("the call returned before the close: %v", err)
	default:
	}
}

// TestArenaCloseUnderLoad: goroutines hammer every kind of operation on
// handles made through one arena handle while another goroutine closes
// it. Nothing faults or panics (an operation already under way finishes
// on the anonymous replacement memory, and may report anything); every
// operation that starts after Close has returned reports ErrClosed and
// arena.ErrClosed, or a zero value. The ring's handle through another
// arena handle stays usable.
func TestArenaCloseUnderLoad(t *testing.T) {
	seed := testSeed(t)
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	for round := 0; round < rounds; round++ {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		a, path := xpArena(t, 1<<20)
		spscOwn := xpCreate(t, a, "spsc", "s", Config{Slots: 8, SlotSize: 64})
		mpmcOwn := xpCreate(t, a, "mpmc", "m", Config{Slots: 8, SlotSize: 64})
		b, err := arena.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sp, err := OpenSPSC(b, "s")
		if err != nil {
			t.Fatal(err)
		}
		mp, err := OpenMPMC(b, "m")
		if err != nil {
			t.Fatal(err)
		}
		var closed atomic.Bool // set once b.Close has returned
		var wg sync.WaitGroup
		errc := make(chan error, 16)
		hammer := func(name string, r Ring, producer, consumer bool, seed uint64) {
			defer wg.Done()
			if err := hammerUntilClosed(name, r, producer, consumer, seed, &closed); err != nil {
				errc <- err
			}
		}
		wg.Add(5)
		go hammer("SPSC producer", sp, true, false, rng.Uint64())
		go hammer("SPSC consumer", sp, false, true, rng.Uint64())
		for g := 0; g < 3; g++ {
			go hammer(fmt.Sprintf("MPMC %d", g), mp, true, true, rng.Uint64())
		}
		time.Sleep(time.Duration(rng.IntN(5000)) * time.Microsecond)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		closed.Store(true)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		sp.Close()
		mp.Close()
		// The other arena handle's rings are still rings: their
		// handles work (a claim the closed handles left unfinished in the
		// MPMC ring is what a killed handle leaves: docs/ring.md).
		if _, err := spscOwn.TryPop(make([]byte, 64)); err != nil && err != ErrEmpty && err != io.EOF {
			t.Fatalf("SPSC through the other arena handle: %v", err)
		}
		if st := mpmcOwn.Stats(); st.Peers != 1 {
			t.Fatalf("MPMC through the other arena handle sees %d live peers, want 1 (%+v)", st.Peers, st)
		}
		if t.Failed() {
			return
		}
	}
}

// TestLateOpsAfterArenaClose plays the operation that loaded its closed
// check just before the arena's Close told the handle, and so runs after
// the mapping changed: it must find memory there (the anonymous
// replacement the pin keeps), not fault. The handle's flag is cleared by
// hand to let every operation through after the Close.
func TestLateOpsAfterArenaClose(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s := newClosedSetup(t, k.kind, true, Config{Slots: 8, SlotSize: 64})
			r := s.r
			for i := 0; i < 3; i++ {
				if err := r.TryPush([]byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			m, _ := r.TryPeek()
			res, _ := r.TryReserve(8)
			if err := s.ra.Close(); err != nil {
				t.Fatal(err)
			}
			c := r.(handle).base()
			why := c.shut.Swap(0) // as if every call below had passed its check before the Close
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			buf := make([]byte, 64)
			// Results are meaningless (zeroed private memory); what matters
			// is that each returns.
			r.Commit(res, 8)
			r.Release(m)
			r.TryPush([]byte("late"))
			r.TryPop(buf)
			r.TryPushBatch([][]byte{buf, buf})
			r.TryPopBatch([][]byte{buf, buf})
			if res, err := r.TryReserve(4); err == nil {
				r.Commit(res, 4)
			}
			if m, err := r.TryPeek(); err == nil {
				r.Release(m)
			}
			r.Pop(ctx, buf)
			r.Push(ctx, buf)
			r.Len()
			r.Stats()
			r.Peers()
			r.Recover()
			r.CloseWrite()
			c.shut.Store(why)
			checkClosedOps(t, r, res, m, ErrClosed, arena.ErrClosed)
		})
	}
}

// hammerUntilClosed runs random operations on r (producer and consumer
// ones as allowed) until one started after closed was set returns: it
// must return an error matching ErrClosed and arena.ErrClosed, or a zero
// value; anything before that may return anything, as long as it returns.
func hammerUntilClosed(name string, r Ring, producer, consumer bool, seed uint64, closed *atomic.Bool) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	r.SetWaitStrategy(WaitStrategy(rng.IntN(4)))
	buf := make([]byte, r.SlotSize())
	for i := 0; ; i++ {
		after := closed.Load() // the op below starts after Close returned
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		var err error
		valued, zero := false, false // a method without an error, and whether it returned its zero value
		switch c := rng.IntN(12); {
		case producer && c == 0:
			err = r.TryPush([]byte("p"))
		case producer && c == 1:
			err = r.Push(ctx, []byte("p"))
		case producer && c == 2:
			_, err = r.TryPushBatch([][]byte{[]byte("a"), []byte("b")})
		case producer && c == 3:
			var res Reservation
			if res, err = r.TryReserve(4); err == nil {
				err = r.Commit(res, 4)
			}
		case consumer && c == 4:
			_, err = r.TryPop(buf)
		case consumer && c == 5:
			_, err = r.Pop(ctx, buf)
		case consumer && c == 6:
			_, err = r.PopBatch(ctx, [][]byte{buf, make([]byte, r.SlotSize())})
		case consumer && c == 7:
			var m Message
			if m, err = r.TryPeek(); err == nil {
				err = r.Release(m)
			}
		case c == 8:
			valued, zero = true, r.Len() == 0 && r.Stats() == (Stats{})
		case c == 9:
			valued, zero = true, r.Peers() == nil
		case c == 10:
			valued, zero = true, r.Recover() == (Recovery{})
		case c == 11:
			err = r.WaitPeers(ctx, RoleProducer|RoleConsumer, 100)
		default:
			cancel()
			continue // not this goroutine's side
		}
		cancel()
		if !after {
			continue // raced the Close: any result will do, as long as nothing faulted
		}
		if valued {
			if !zero {
				return fmt.Errorf("%s: a method started after the arena's Close returned a non-zero value", name)
			}
			continue
		}
		if !errors.Is(err, ErrClosed) || !errors.Is(err, arena.ErrClosed) {
			return fmt.Errorf("%s: an operation started after the arena's Close returned: %v, want ErrClosed and arena.ErrClosed", name, err)
		}
		return nil
	}
}
