package ring

import (
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
)

// TestCloseSemantics pins the handle/stream split: Close releases a handle,
// and only an SPSC producer's Close (or CloseWrite from anyone) ends the
// stream.
func TestCloseSemantics(t *testing.T) {
	type step func(t *testing.T, prod, cons Ring)
	push := func(t *testing.T, prod, _ Ring) {
		if err := prod.TryPush([]byte("m")); err != nil {
			t.Fatalf("push: %v", err)
		}
	}
	cases := []struct {
		name      string
		kind      ringKind
		steps     []step
		wantEnded bool
	}{
		{"SPSC consumer Close keeps the stream", kindSPSC, []step{push, func(t *testing.T, _, cons Ring) {
			popOne(t, cons)
			cons.Close()
		}}, false},
		{"SPSC producer Close ends the stream", kindSPSC, []step{push, func(_ *testing.T, prod, _ Ring) { prod.Close() }}, true},
		{"SPSC producer Detach keeps the stream", kindSPSC, []step{push, func(_ *testing.T, prod, _ Ring) { prod.Detach() }}, false},
		{"SPSC Close of a handle that never produced keeps the stream", kindSPSC, []step{func(_ *testing.T, prod, _ Ring) { prod.Close() }}, false},
		{"SPSC Close of a producer that was taken over keeps the stream", kindSPSC, []step{push, func(t *testing.T, prod, cons Ring) {
			if err := cons.TryPush([]byte("n")); err != nil { // cons takes the producer side over
				t.Fatal(err)
			}
			prod.Close()
		}}, false},
		{"SPSC consumer CloseWrite ends the stream", kindSPSC, []step{push, func(_ *testing.T, _, cons Ring) { cons.CloseWrite() }}, true},
		{"MPMC producer Close keeps the stream", kindMPMC, []step{push, func(_ *testing.T, prod, _ Ring) { prod.Close() }}, false},
		{"MPMC consumer Close keeps the stream", kindMPMC, []step{push, func(_ *testing.T, _, cons Ring) { cons.Close() }}, false},
		{"MPMC CloseWrite ends the stream", kindMPMC, []step{push, func(_ *testing.T, prod, _ Ring) { prod.CloseWrite() }}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prod, mem := newHeapRing(t, tc.kind, Config{Slots: 4, SlotSize: 8})
			cons := attachHeap(t, tc.kind, mem)
			for _, s := range tc.steps {
				s(t, prod, cons)
			}
			if got := cons.IsClosed(); got != tc.wantEnded {
				t.Fatalf("stream ended = %v, want %v", got, tc.wantEnded)
			}
			// A fresh handle sees the same: the stream is a property of
			// the ring, not of a handle.
			other := attachHeap(t, tc.kind, mem)
			defer other.Close()
			drain(t, other)
			_, err := other.TryPop(make([]byte, 8))
			if tc.wantEnded && err != io.EOF || !tc.wantEnded && err != ErrEmpty {
				t.Fatalf("fresh handle's pop after drain: %v", err)
			}
			if err := other.TryPush([]byte("x")); tc.wantEnded != errors.Is(err, ErrClosed) {
				t.Fatalf("fresh handle's push: %v", err)
			}
		})
	}
}

// TestCloseFreesPeerEntry: Close and Detach give the peer entry back, once.
func TestCloseFreesPeerEntry(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r, mem := newHeapRing(t, k.kind, Config{Slots: 4, SlotSize: 8})
			h := attachHeap(t, k.kind, mem)
			if p := r.Stats().Peers; p != 2 {
				t.Fatalf("peers with two handles: %d", p)
			}
			for i := 0; i < 2; i++ { // idempotent
				if err := h.Close(); err != nil {
					t.Fatalf("Close #%d: %v", i+1, err)
				}
				if p := r.Stats().Peers; p != 1 {
					t.Fatalf("peers after Close #%d: %d", i+1, p)
				}
			}
			r.Detach()
			if st := r.Stats(); st != (Stats{}) {
				t.Fatalf("Stats of a detached handle: %+v, want zero", st)
			}
			o := attachHeap(t, k.kind, mem) // a detached handle reads nothing: count from a new one
			defer o.Close()
			if p := o.Stats().Peers; p != 1 {
				t.Fatalf("peers after Detach, counted by a new handle: %d, want 1", p)
			}
		})
	}
}

// TestClosedMatchesOSErrClosed: ErrClosed is usable with errors.Is as
// os.ErrClosed too, bare and wrapped, and keeps its own text.
func TestClosedMatchesOSErrClosed(t *testing.T) {
	r, _ := newHeapRing(t, kindSPSC, Config{Slots: 4, SlotSize: 8})
	r.CloseWrite()
	err := r.TryPush(nil)
	if err != ErrClosed || !errors.Is(err, os.ErrClosed) || !errors.Is(err, ErrClosed) {
		t.Fatalf("push after CloseWrite: %v", err)
	}
	if w := errors.Join(errors.New("ctx"), err); !errors.Is(w, os.ErrClosed) {
		t.Fatalf("wrapped ErrClosed does not match os.ErrClosed")
	}
	if errors.Is(ErrFull, os.ErrClosed) || errors.Is(os.ErrClosed, ErrClosed) {
		t.Fatalf("os.ErrClosed must not match ErrClosed the other way, nor ErrFull it")
	}
	if ErrClosed.Error() != "ring: closed" {
		t.Fatalf("text %q", ErrClosed.Error())
	}
}

// TestArgumentErrors: each misuse has its own error.
func TestArgumentErrors(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r, _ := newHeapRing(t, k.kind, Config{Slots: 4, SlotSize: 8})
			if _, err := r.TryReserve(-1); err != ErrInvalid {
				t.Errorf("TryReserve(-1): %v, want ErrInvalid", err)
			}
			if _, err := r.TryReserve(9); err != ErrTooLarge {
				t.Errorf("TryReserve(9): %v, want ErrTooLarge", err)
			}
			res, err := r.TryReserve(4)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Commit(res, -1); err != ErrInvalid {
				t.Errorf("Commit(-1): %v, want ErrInvalid", err)
			}
			if err := r.Commit(res, 9); err != ErrTooLarge {
				t.Errorf("Commit(9): %v, want ErrTooLarge", err)
			}
			if err := r.Commit(res, 4); err != nil {
				t.Fatal(err)
			}
			if err := r.Commit(res, 4); err != ErrNotReserved {
				t.Errorf("second Commit: %v, want ErrNotReserved", err)
			}
		})
	}
}

// TestSPSCOutstanding: SPSC hands slots over in order, so a second
// reservation or peek (or any other operation on that side) while one is
// held returns ErrOutstanding, and works again once it is given back.
func TestSPSCOutstanding(t *testing.T) {
	r, _ := newHeapRing(t, kindSPSC, Config{Slots: 4, SlotSize: 8})
	res, err := r.TryReserve(1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	prodOps := map[string]func() error{
		"TryReserve":   func() error { _, err := r.TryReserve(1); return err },
		"TryPush":      func() error { return r.TryPush([]byte("x")) },
		"TryPushBatch": func() error { _, err := r.TryPushBatch([][]byte{{1}}); return err },
	}
	for name, op := range prodOps {
		if err := op(); err != ErrOutstanding {
			t.Errorf("%s with a reservation outstanding: %v, want ErrOutstanding", name, err)
		}
	}
	if err := r.Commit(res, 1); err != nil {
		t.Fatal(err)
	}
	r.TryPush([]byte("y"))
	m, err := r.TryPeek()
	if err != nil {
		t.Fatal(err)
	}
	consOps := map[string]func() error{
		"TryPeek":     func() error { _, err := r.TryPeek(); return err },
		"TryPop":      func() error { _, err := r.TryPop(buf); return err },
		"TryPopBatch": func() error { _, err := r.TryPopBatch([][]byte{buf}); return err },
	}
	for name, op := range consOps {
		if err := op(); err != ErrOutstanding {
			t.Errorf("%s with a peek outstanding: %v, want ErrOutstanding", name, err)
		}
	}
	if err := r.Release(m); err != nil {
		t.Fatal(err)
	}
	if n, err := r.TryPop(buf); err != nil || string(buf[:n]) != "y" {
		t.Fatalf("pop after release: %q, %v", buf[:n], err)
	}
}

// TestOptions: WithOpenTimeout bounds the wait for a creator, and
// WithWaitStrategy sets the initial strategy; bad values are refused.
func TestOptions(t *testing.T) {
	cfg := Config{Slots: 4, SlotSize: 8}
	size, err := Size(KindSPSC, cfg, 128)
	if err != nil {
		t.Fatal(err)
	}
	mem := make([]byte, size) // never initialised: State stays 0
	for _, d := range []time.Duration{0, 20 * time.Millisecond} {
		start := time.Now()
		_, err := AttachSPSC(mem, WithOpenTimeout(d))
		el := time.Since(start)
		if !errors.Is(err, ErrNotReady) {
			t.Fatalf("attach to an unready ring: %v", err)
		}
		if el < d || el > d+time.Second {
			t.Fatalf("WithOpenTimeout(%v) waited %v", d, el)
		}
	}
	r, err := NewSPSC(mem, cfg, 128, WithWaitStrategy(WaitBlock))
	if err != nil {
		t.Fatal(err)
	}
	if r.WaitStrategy() != WaitBlock {
		t.Fatalf("strategy %v", r.WaitStrategy())
	}
	if _, err := AttachSPSC(mem, WithWaitStrategy(WaitStrategy(9))); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad strategy: %v", err)
	}
}

func popOne(t *testing.T, r Ring) {
	t.Helper()
	if _, err := r.TryPop(make([]byte, r.SlotSize())); err != nil {
		t.Fatalf("pop: %v", err)
	}
}

func drain(t *testing.T, r Ring) {
	t.Helper()
	buf := make([]byte, r.SlotSize())
	for i := 0; i <= r.Slots(); i++ {
		if _, err := r.TryPop(buf); err != nil {
			return
		}
	}
	t.Fatalf("ring did not drain")
}

// TestByKind: Create, Open, New and Attach serve every kind by argument
// (Open by what the region holds), return the kind's own handle type, and
// a nil Ring, never a typed nil, with their errors.
func TestByKind(t *testing.T) {
	a, _ := xpArena(t, 1<<20)
	cfg := Config{Slots: 4, SlotSize: 8}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			w, err := Create(a, "by-kind-"+k.name, k.kind.region(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Open(a, "by-kind-"+k.name)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%T", w) != fmt.Sprintf("%T", r) || fmt.Sprintf("%T", r) != "*ring."+k.name {
				t.Fatalf("Create gave %T, Open %T", w, r)
			}
			if err := w.TryPush([]byte("k")); err != nil {
				t.Fatal(err)
			}
			popOne(t, r)
			hr, mem, err := NewHeap(k.kind.region(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			ha, err := Attach(mem, k.kind.region())
			if err != nil || fmt.Sprintf("%T", hr) != fmt.Sprintf("%T", ha) {
				t.Fatalf("NewHeap %T, Attach %T, %v", hr, ha, err)
			}
		})
	}
	if _, err := a.AllocKind("not-a-ring", arena.Kind(7), 64, 64); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call func() (Ring, error)
		want error
	}{
		{"Create of a non-ring kind", func() (Ring, error) { return Create(a, "x", arena.Kind(7), cfg) }, ErrInvalid},
		{"Create with a bad config", func() (Ring, error) { return Create(a, "x", KindSPSC, Config{Slots: 3, SlotSize: 8}) }, ErrInvalid},
		{"Open of a missing region", func() (Ring, error) { return Open(a, "missing") }, arena.ErrNotFound},
		{"Open of a region that is not a ring", func() (Ring, error) { return Open(a, "not-a-ring") }, ErrKind},
		{"Open of an SPSC ring as MPMC", func() (Ring, error) {
			r, err := OpenMPMC(a, "by-kind-SPSC")
			if r == nil { // a typed handle: a nil *MPMC on error, not a nil Ring
				return nil, err
			}
			return r, err
		}, ErrKind},
		{"New over short memory", func() (Ring, error) { return New(make([]byte, 64), KindMPMC, cfg, 128) }, ErrInvalid},
		{"Attach to the wrong kind", func() (Ring, error) {
			_, mem, _ := NewHeap(KindSPSC, cfg)
			return Attach(mem, KindMPMC)
		}, ErrKind},
	}
	for _, tc := range cases {
		r, err := tc.call()
		if !errors.Is(err, tc.want) || r != nil {
			t.Errorf("%s: %v, %v (want nil and %v)", tc.name, r, err, tc.want)
		}
	}
}
