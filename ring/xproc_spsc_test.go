package ring

// Cross-process SPSC: a stream of generated messages from a producer
// process to a consumer process, and each side asleep in the futex woken
// by the other.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/xproc"
)

func init() {
	roles["xp-spsc-producer"] = xpRingRole("spsc", xpSPSCProducer)
	roles["xp-spsc-consumer"] = xpRingRole("spsc", xpSPSCConsumer)
}

// TestXProcSPSC streams 200,000 messages of every length from 0 to SlotSize
// from a producer process to a consumer process, which checks each byte
// against the message it regenerates for that sequence number.
func TestXProcSPSC(t *testing.T) {
	const n = 200_000
	seed := testSeed(t)
	a, path := xpArena(t, 4<<20)
	r, err := CreateSPSC(a, "xp", Config{Slots: 256, SlotSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Detach()
	common := []string{"path=" + path, "ring=xp", "seed=" + strconv.FormatUint(seed, 10), "n=" + strconv.Itoa(n), "wait=adaptive"}
	start := time.Now()
	cons := xproc.StartT(t, "xp-spsc-consumer", append(common, "mode=pop")...)
	prod := xproc.StartT(t, "xp-spsc-producer", common...)
	xproc.WaitAll(t, time.Now().Add(xpChildTimeout), []*xproc.Child{prod, cons}, nil)
	got := xproc.IntField(t, cons.Stdout(), "count")
	t.Logf("%d messages in %v", got, time.Since(start))
	if got != n {
		t.Fatalf("consumer received %d messages, want %d", got, n)
	}

	var bytesWant uint64
	buf := make([]byte, r.SlotSize())
	for i := uint64(0); i < n; i++ {
		bytesWant += uint64(len(xpSPSCMsg(buf, seed, i, r.SlotSize())))
	}
	st := r.Stats()
	if st.MsgsIn != n || st.MsgsOut != n || st.Len != 0 || !st.Closed {
		t.Errorf("Stats = %+v, want MsgsIn = MsgsOut = %d, Len 0, Closed", st, n)
	}
	// Both children detached, so their counters are fully published.
	if st.BytesIn != bytesWant || st.BytesOut != bytesWant {
		t.Errorf("Stats BytesIn %d, BytesOut %d, want %d", st.BytesIn, st.BytesOut, bytesWant)
	}
	if st.Peers != 1 {
		t.Errorf("Stats Peers = %d after both children detached, want 1 (the parent)", st.Peers)
	}
}

// TestXProcBlockingSleeps makes each side sleep in the futex and be woken
// by the other process.
func TestXProcBlockingSleeps(t *testing.T) {
	const n = 20
	const gap = 20 * time.Millisecond
	seed := testSeed(t)
	a, path := xpArena(t, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), xpChildTimeout)
	defer cancel()

	t.Run("consumer", func(t *testing.T) {
		// A slow producer (us) and a WaitBlock consumer child, which
		// must sleep between messages.
		r, err := CreateSPSC(a, "sleepy-consumer", Config{Slots: 16, SlotSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Detach()
		cons := xproc.StartT(t, "xp-spsc-consumer", "path="+path, "ring=sleepy-consumer", "seed="+strconv.FormatUint(seed, 10),
			"n="+strconv.Itoa(n), "wait=block", "mode=pop")
		xproc.WaitFor(t, "the consumer to attach", cons, func() bool { return r.Stats().Peers >= 2 })
		buf := make([]byte, r.SlotSize())
		for i := uint64(0); i < n; i++ {
			time.Sleep(gap)
			if err := r.Push(ctx, xpSPSCMsg(buf, seed, i, r.SlotSize())); err != nil {
				t.Fatalf("push %d: %v", i, err)
			}
		}
		r.CloseWrite()
		if got := xproc.IntField(t, xproc.Output(t, cons, time.Now().Add(xpChildTimeout)), "count"); got != n {
			t.Fatalf("consumer received %d messages, want %d", got, n)
		}
		st := r.Stats()
		t.Logf("Sleeps %d, Wakes %d", st.Sleeps, st.Wakes)
		if st.Sleeps == 0 || st.Wakes == 0 {
			t.Errorf("Stats Sleeps %d, Wakes %d: the consumer should have slept and been woken", st.Sleeps, st.Wakes)
		}
	})

	t.Run("producer", func(t *testing.T) {
		// A WaitBlock producer child on a 2-slot ring and a slow consumer
		// (us): the producer must sleep on full.
		r, err := CreateSPSC(a, "sleepy-producer", Config{Slots: 2, SlotSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Detach()
		prod := xproc.StartT(t, "xp-spsc-producer", "path="+path, "ring=sleepy-producer", "seed="+strconv.FormatUint(seed, 10),
			"n="+strconv.Itoa(n), "wait=block")
		buf := make([]byte, r.SlotSize())
		want := make([]byte, r.SlotSize())
		got := 0
		for {
			k, err := r.Pop(ctx, buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("pop %d: %v", got, err)
			}
			if w := xpSPSCMsg(want, seed, uint64(got), r.SlotSize()); !bytes.Equal(buf[:k], w) {
				t.Fatalf("message %d: %s", got, xpDiff(buf[:k], w))
			}
			got++
			time.Sleep(gap)
		}
		xproc.Output(t, prod, time.Now().Add(xpChildTimeout))
		if got != n {
			t.Fatalf("received %d messages, want %d", got, n)
		}
		st := r.Stats()
		t.Logf("Sleeps %d, Wakes %d, FullEvents %d", st.Sleeps, st.Wakes, st.FullEvents)
		if st.Sleeps == 0 || st.Wakes == 0 || st.FullEvents == 0 {
			t.Errorf("Stats Sleeps %d, Wakes %d, FullEvents %d: the producer should have found the ring full, slept and been woken",
				st.Sleeps, st.Wakes, st.FullEvents)
		}
	})
}

// xpSPSCProducer pushes n generated messages with Push and, unless
// close=no, closes the ring. Args: path ring seed n wait [close].
func xpSPSCProducer(ctx context.Context, a xproc.Args, r Ring) error {
	n, seed := a.Int("n"), a.Uint64("seed")
	buf := make([]byte, r.SlotSize())
	for i := 0; i < n; i++ {
		if err := r.Push(ctx, xpSPSCMsg(buf, seed, uint64(i), r.SlotSize())); err != nil {
			return fmt.Errorf("push %d: %w", i, err)
		}
	}
	if a["close"] != "no" {
		if err := r.CloseWrite(); err != nil {
			return err
		}
	}
	fmt.Printf("pushed=%d\n", n)
	return nil
}

// xpSPSCConsumer pops until io.EOF and checks that message i is exactly
// xpSPSCMsg(i). With mode=pop it uses Pop; with mode=trypop it uses TryPop
// and fails on ErrEmpty (the ring must already hold everything). Args: path
// ring seed n wait mode.
func xpSPSCConsumer(ctx context.Context, a xproc.Args, r Ring) error {
	n, seed, mode := a.Int("n"), a.Uint64("seed"), a["mode"]
	buf := make([]byte, r.SlotSize())
	want := make([]byte, r.SlotSize())
	count := 0
	for ; ; count++ {
		var k int
		var err error
		if mode == "trypop" {
			k, err = r.TryPop(buf)
		} else {
			k, err = r.Pop(ctx, buf)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("message %d: %w", count, err)
		}
		if count >= n {
			return fmt.Errorf("message %d arrived; only %d were sent", count, n)
		}
		if w := xpSPSCMsg(want, seed, uint64(count), r.SlotSize()); !bytes.Equal(buf[:k], w) {
			return fmt.Errorf("message %d: %s", count, xpDiff(buf[:k], w))
		}
	}
	// io.EOF is sticky.
	if _, err := r.TryPop(buf); err != io.EOF {
		return fmt.Errorf("TryPop after io.EOF: %v, want io.EOF", err)
	}
	if _, err := r.Pop(ctx, buf); err != io.EOF {
		return fmt.Errorf("Pop after io.EOF: %v, want io.EOF", err)
	}
	fmt.Printf("count=%d\n", count)
	return nil
}

// xpSPSCMsg builds SPSC message i into buf: a length in [0, slotSize] and
// contents derived from (seed, i), with i in the first 8 bytes when the
// message is that long.
func xpSPSCMsg(buf []byte, seed, i uint64, slotSize int) []byte {
	h := xpMix(seed ^ xpMix(i))
	b := buf[:h%uint64(slotSize+1)]
	xpFill(b, h)
	if len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, i)
	}
	return b
}
