package ring

import (
	"errors"
	"testing"
)

// TestBroadcastLappedReaderRecovers: a lossy subscriber lapped by a
// producer that streams must get off the overwrite frontier. Resumed at
// the oldest message still in the ring, whose slot the producer rewrites
// next, a subscriber whose lap handling takes longer than one push (a
// measured lap lasts 5 to 20 pushes of a streaming producer) is lapped
// again at its next read, and the one after: before lapSlack it stayed
// there and delivered nothing (found by BenchmarkBroadcast's lossy rows,
// whose lost/msg was bimodal, 0.01 to 0.9).
//
// The test plays both sides in one goroutine, deterministically: every
// read lets the producer push one message, every lap three. The
// subscriber keeps up with the producer whenever it reads, so after a few
// laps it must deliver every message, and delivered + missed must be what
// was pushed.
func TestBroadcastLappedReaderRecovers(t *testing.T) {
	const slots = 64
	b, mem := newHeapBroadcast(t, Config{Slots: slots, SlotSize: 8})
	s := subscribeHeap(t, mem, SubscribeOptions{From: Oldest, Lossy: true})
	msg, buf := make([]byte, 8), make([]byte, 8)
	pushed := 0
	push := func(n int) {
		for range n {
			if err := b.TryPush(msg); err != nil {
				t.Fatal(err)
			}
			pushed++
		}
	}
	push(2 * slots) // the subscriber, at 0, is a ring behind: lapped at its first read
	var laps, delivered int
	var missed uint64
	for range 1000 {
		_, err := s.TryPop(buf)
		var lap *LappedError
		switch {
		case err == nil:
			delivered++
			push(1)
		case errors.As(err, &lap):
			laps++
			missed += lap.Missed
			push(3)
		default:
			t.Fatal(err)
		}
	}
	t.Logf("1000 reads: %d laps, %d delivered, %d missed", laps, delivered, missed)
	if laps > 5 {
		t.Errorf("%d laps: the subscriber stayed on the producer's overwrite frontier", laps)
	}
	if uint64(delivered)+missed+s.Lag() != uint64(pushed) {
		t.Errorf("delivered %d + missed %d + lag %d != pushed %d", delivered, missed, s.Lag(), pushed)
	}
}

func TestLapSlack(t *testing.T) {
	for _, c := range []struct {
		slots uint64
		k     uint32
		want  uint64
	}{{64, 1, 4}, {64, 2, 8}, {64, 3, 16}, {64, 4, 32}, {64, 9, 32}, {2, 1, 1}, {2, 4, 1}, {1 << 20, 1, 1 << 16}} {
		if got := lapSlack(c.slots, c.k); got != c.want {
			t.Errorf("lapSlack(%d, %d) = %d, want %d", c.slots, c.k, got, c.want)
		}
	}
}
