package bridge

import (
	"context"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// TestInProcess runs Out and In as goroutines over heap rings: the
// quickest check of the whole path, in both modes.
func TestInProcess(t *testing.T) {
	for _, js := range []bool{false, true} {
		t.Run(map[bool]string{false: "core", true: "jetstream"}[js], func(t *testing.T) {
			ns := startServer(t)
			src, _, err := ring.NewHeap(arena.Kind(ring.KindSPSC), ring.Config{Slots: 256, SlotSize: 128})
			if err != nil {
				t.Fatal(err)
			}
			dst, _, err := ring.NewHeap(arena.Kind(ring.KindSPSC), ring.Config{Slots: 256, SlotSize: 128})
			if err != nil {
				t.Fatal(err)
			}
			ncOut, err := Connect(ns.url(), ConnectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer ncOut.Close()
			ncIn, err := Connect(ns.url(), ConnectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer ncIn.Close()
			o, err := NewOut(ncOut, src, OutConfig{Subject: "x", JetStream: js, Stream: "X", Producer: "p"})
			if err != nil {
				t.Fatal(err)
			}
			ready := make(chan struct{})
			in, err := NewIn(ncIn, dst.(Target), InConfig{Subject: "x", JetStream: js, Stream: "X", Durable: "d",
				Ready: func() { close(ready) }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			inCtx, stopIn := context.WithCancel(ctx)
			inDone := make(chan error, 1)
			go func() { inDone <- in.Run(inCtx) }()
			<-ready // core NATS: In must be subscribed before Out publishes
			outDone := make(chan error, 1)
			go func() { outDone <- o.Run(ctx) }()
			const n = 5000
			go func() {
				var b [testMsgSize]byte
				for s := uint64(1); s <= n; s++ {
					fillMsg(b[:], s)
					if err := src.Push(ctx, b[:]); err != nil {
						t.Error(err)
						return
					}
				}
				src.CloseWrite()
			}()
			buf := make([]byte, 256)
			for want := uint64(1); want <= n; want++ {
				k, err := dst.Pop(ctx, buf)
				if err != nil {
					t.Fatalf("pop %d: %v; out %v; in %v", want, err, o.Counters(), in.Counters())
				}
				seq, err := checkMsg(buf[:k])
				if err != nil || seq != want {
					t.Fatalf("got %d (%v), want %d", seq, err, want)
				}
			}
			if err := <-outDone; err != nil {
				t.Fatal(err)
			}
			stopIn()
			if err := <-inDone; err != nil {
				t.Fatal(err)
			}
			t.Logf("out %v", o.Counters())
			t.Logf("in  %v", in.Counters())
		})
	}
}
