package ring

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// TestModel runs random single-goroutine operation sequences against a
// plain slice queue and checks every result.
func TestModel(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			seed := testSeed(t)
			for round := 0; round < 40; round++ {
				rng := rand.New(rand.NewPCG(seed, uint64(round)))
				slots := 1 << (1 + rng.IntN(5))
				slotSize := 1 + rng.IntN(100)
				runModel(t, k.kind, Config{Slots: slots, SlotSize: slotSize}, rng, 3000)
			}
		})
	}
}

func randMsg(rng *rand.Rand, max int) []byte {
	n := rng.IntN(max + 1)
	if rng.IntN(8) == 0 {
		n = max
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func runModel(t *testing.T, kind ringKind, cfg Config, rng *rand.Rand, steps int) {
	t.Helper()
	r, _ := newHeapRing(t, kind, cfg)
	var model [][]byte
	closed := false
	ctx := context.Background()
	fail := func(step int, op string, format string, args ...any) {
		t.Helper()
		t.Fatalf("cfg %+v step %d %s: "+format, append([]any{cfg, step, op}, args...)...)
	}
	expectPopErr := func(step int, op string, err error) {
		t.Helper()
		switch {
		case len(model) == 0 && closed:
			if err != io.EOF {
				fail(step, op, "err %v, want io.EOF", err)
			}
		case len(model) == 0:
			if err != ErrEmpty {
				fail(step, op, "err %v, want ErrEmpty", err)
			}
		default:
			fail(step, op, "err %v with %d queued", err, len(model))
		}
	}
	for step := 0; step < steps; step++ {
		full := len(model) == cfg.Slots
		switch op := rng.IntN(12); op {
		case 0, 1, 2: // TryPush
			msg := randMsg(rng, cfg.SlotSize)
			if rng.IntN(20) == 0 {
				msg = make([]byte, cfg.SlotSize+1+rng.IntN(10))
			}
			err := r.TryPush(msg)
			switch {
			case len(msg) > cfg.SlotSize:
				if err != ErrTooLarge {
					fail(step, "TryPush", "oversized: %v", err)
				}
			case closed:
				if err != ErrClosed {
					fail(step, "TryPush", "closed: %v", err)
				}
			case full:
				if err != ErrFull {
					fail(step, "TryPush", "full: %v", err)
				}
			default:
				if err != nil {
					fail(step, "TryPush", "%v", err)
				}
				model = append(model, msg)
			}
		case 3, 4, 5: // TryPop, sometimes with a short buffer
			size := cfg.SlotSize
			if rng.IntN(4) == 0 {
				size = rng.IntN(cfg.SlotSize + 1)
			}
			dst := make([]byte, size)
			n, err := r.TryPop(dst)
			if len(model) > 0 && len(model[0]) > size {
				if err != io.ErrShortBuffer {
					fail(step, "TryPop", "short buffer: %v", err)
				}
				continue
			}
			if err != nil {
				expectPopErr(step, "TryPop", err)
				continue
			}
			if len(model) == 0 || !bytes.Equal(dst[:n], model[0]) {
				fail(step, "TryPop", "got %x, model %d queued", dst[:n], len(model))
			}
			model = model[1:]
		case 6: // TryPushBatch
			msgs := make([][]byte, 1+rng.IntN(cfg.Slots+2))
			for i := range msgs {
				msgs[i] = randMsg(rng, cfg.SlotSize)
			}
			n, err := r.TryPushBatch(msgs)
			free := cfg.Slots - len(model)
			switch {
			case closed:
				if err != ErrClosed || n != 0 {
					fail(step, "TryPushBatch", "closed: %d %v", n, err)
				}
			case free == 0:
				if err != ErrFull || n != 0 {
					fail(step, "TryPushBatch", "full: %d %v", n, err)
				}
			default:
				if want := min(free, len(msgs)); err != nil || n != want {
					fail(step, "TryPushBatch", "pushed %d (%v), want %d", n, err, want)
				}
				model = append(model, msgs[:n]...)
			}
		case 7: // TryPopBatch
			bufs := make([][]byte, 1+rng.IntN(cfg.Slots+2))
			for i := range bufs {
				bufs[i] = make([]byte, 0, cfg.SlotSize)
			}
			n, err := r.TryPopBatch(bufs)
			if err != nil {
				expectPopErr(step, "TryPopBatch", err)
				continue
			}
			if want := min(len(model), len(bufs)); n != want {
				fail(step, "TryPopBatch", "popped %d, want %d", n, want)
			}
			for i := 0; i < n; i++ {
				if !bytes.Equal(bufs[i], model[i]) {
					fail(step, "TryPopBatch", "message %d differs", i)
				}
			}
			model = model[n:]
		case 8: // TryReserve + Commit (sometimes shorter than reserved)
			msg := randMsg(rng, cfg.SlotSize)
			res, err := r.TryReserve(len(msg))
			switch {
			case closed:
				if err != ErrClosed {
					fail(step, "TryReserve", "closed: %v", err)
				}
				continue
			case full:
				if err != ErrFull {
					fail(step, "TryReserve", "full: %v", err)
				}
				continue
			case err != nil:
				fail(step, "TryReserve", "%v", err)
			}
			if len(res.Buf) != len(msg) || cap(res.Buf) != cfg.SlotSize {
				fail(step, "TryReserve", "buf len %d cap %d", len(res.Buf), cap(res.Buf))
			}
			copy(res.Buf, msg)
			cut := len(msg)
			if cut > 0 && rng.IntN(3) == 0 {
				cut = rng.IntN(cut)
			}
			if err := r.Commit(res, cut); err != nil {
				fail(step, "Commit", "%v", err)
			}
			if err := r.Commit(res, cut); err != ErrNotReserved {
				fail(step, "Commit twice", "%v", err)
			}
			model = append(model, msg[:cut])
		case 9: // TryPeek + Release
			m, err := r.TryPeek()
			if err != nil {
				expectPopErr(step, "TryPeek", err)
				continue
			}
			if len(model) == 0 || !bytes.Equal(m.Data, model[0]) {
				fail(step, "TryPeek", "got %x", m.Data)
			}
			if err := r.Release(m); err != nil {
				fail(step, "Release", "%v", err)
			}
			if err := r.Release(m); err != ErrNotReserved {
				fail(step, "Release twice", "%v", err)
			}
			model = model[1:]
		case 10: // Len
			if got := r.Len(); got != len(model) {
				fail(step, "Len", "%d, model %d", got, len(model))
			}
		case 11: // rarely close; blocking Pop on a non-empty ring returns at once
			if rng.IntN(40) == 0 {
				if err := r.CloseWrite(); err != nil {
					fail(step, "Close", "%v", err)
				}
				closed = true
				if !r.IsClosed() {
					fail(step, "IsClosed", "false after Close")
				}
			} else if len(model) > 0 {
				dst := make([]byte, cfg.SlotSize)
				n, err := r.Pop(ctx, dst)
				if err != nil || !bytes.Equal(dst[:n], model[0]) {
					fail(step, "Pop", "%v", err)
				}
				model = model[1:]
			}
		}
	}
	// Drain: after Close, every queued message comes out, then io.EOF.
	r.CloseWrite()
	dst := make([]byte, cfg.SlotSize)
	for len(model) > 0 {
		n, err := r.TryPop(dst)
		if err != nil || !bytes.Equal(dst[:n], model[0]) {
			t.Fatalf("drain: %v", err)
		}
		model = model[1:]
	}
	if _, err := r.TryPop(dst); err != io.EOF {
		t.Fatalf("after drain: %v, want io.EOF", err)
	}
	if _, err := r.Pop(ctx, dst); err != io.EOF {
		t.Fatalf("Pop after drain: %v, want io.EOF", err)
	}
	if err := r.TryPush(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("TryPush after Close: %v", err)
	}
	st := r.Stats()
	if st.MsgsIn != st.MsgsOut || !st.Closed {
		t.Fatalf("stats after drain: %+v", st)
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		cfg Config
		ok  bool
	}{
		{Config{Slots: 2, SlotSize: 1}, true},
		{Config{Slots: 1024, SlotSize: 256}, true},
		{Config{Slots: 0, SlotSize: 8}, false},
		{Config{Slots: 1, SlotSize: 8}, false},
		{Config{Slots: 3, SlotSize: 8}, false},
		{Config{Slots: 1 << 31, SlotSize: 8}, false},
		{Config{Slots: 8, SlotSize: 0}, false},
		{Config{Slots: 8, SlotSize: -1}, false},
		{Config{Slots: 8, SlotSize: 8, Peers: -1}, false},
		{Config{Slots: 8, SlotSize: 8, Peers: MaxPeers + 1}, false},
	}
	for _, tt := range tests {
		for _, k := range []struct {
			name string
			new  func([]byte, Config, int) error
		}{
			{"SPSC", func(m []byte, c Config, p int) error { _, err := NewSPSC(m, c, p); return err }},
			{"MPMC", func(m []byte, c Config, p int) error { _, err := NewMPMC(m, c, p); return err }},
		} {
			err := k.new(make([]byte, 1<<20), tt.cfg, 128)
			if tt.ok && err != nil {
				t.Errorf("%s %+v: %v", k.name, tt.cfg, err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalid) {
				t.Errorf("%s %+v: %v, want ErrInvalid", k.name, tt.cfg, err)
			}
		}
	}
}

func TestWaitStrategyNames(t *testing.T) {
	for _, w := range []WaitStrategy{WaitAdaptive, WaitSpin, WaitYield, WaitBlock} {
		got, err := ParseWaitStrategy(w.String())
		if err != nil || got != w {
			t.Errorf("ParseWaitStrategy(%q) = %v, %v", w.String(), got, err)
		}
	}
	if _, err := ParseWaitStrategy("nap"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}
}
