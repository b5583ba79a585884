package ring

import (
	"errors"
	"testing"
)

// TestCountersPublishedAtOnce: every operation's counts are in the shared
// entry when it returns (a monitor reading Stats after each call sees it
// exactly), for every kind and both sides, and drops and empty polls are
// counted per message and per call.
func TestCountersPublishedAtOnce(t *testing.T) {
	for _, kind := range []ringKind{kindSPSC, kindMPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			r, mem := newHeapRing(t, kind, Config{Slots: 4, SlotSize: 32})
			mon := attachHeap(t, kind, mem) // another handle reads the shared counters
			var buf [32]byte
			for i := 1; i <= 3; i++ {
				if err := r.TryPush(make([]byte, 10)); err != nil {
					t.Fatal(err)
				}
				if st := mon.Stats(); st.BytesIn != uint64(10*i) {
					t.Fatalf("after push %d: BytesIn %d", i, st.BytesIn)
				}
			}
			// 3 in a ring of 4: a batch of 3 fits 1 and drops 2.
			n, err := r.TryPushBatch([][]byte{{1}, {2}, {3}})
			if n != 1 || (err != nil && !errors.Is(err, ErrFull)) {
				t.Fatalf("TryPushBatch = %d, %v", n, err)
			}
			if st := mon.Stats(); st.FullEvents != 2 || st.BytesIn != 31 {
				t.Fatalf("after the batch: FullEvents %d (want 2: per message left out), BytesIn %d", st.FullEvents, st.BytesIn)
			}
			for i := 1; i <= 4; i++ {
				if _, err := r.TryPop(buf[:]); err != nil {
					t.Fatal(err)
				}
				if st := mon.Stats(); st.MsgsOut != uint64(i) {
					t.Fatalf("after pop %d: MsgsOut %d", i, st.MsgsOut)
				}
			}
			if st := mon.Stats(); st.BytesOut != 31 {
				t.Fatalf("BytesOut %d", st.BytesOut)
			}
			for i := 1; i <= 3; i++ {
				if _, err := r.TryPop(buf[:]); !errors.Is(err, ErrEmpty) {
					t.Fatal(err)
				}
				if st := mon.Stats(); st.EmptyEvents != uint64(i) {
					t.Fatalf("after empty poll %d: EmptyEvents %d", i, st.EmptyEvents)
				}
			}
		})
	}
	t.Run("broadcast", func(t *testing.T) {
		b, mem := newHeapBroadcast(t, Config{Slots: 4, SlotSize: 32, Subscribers: 2})
		s := subscribeHeap(t, mem, SubscribeOptions{From: Oldest})
		var buf [32]byte
		for i := 1; i <= 3; i++ {
			if err := b.TryPush(make([]byte, 7)); err != nil {
				t.Fatal(err)
			}
			if st := b.Stats(); st.BytesIn != uint64(7*i) {
				t.Fatalf("after push %d: BytesIn %d", i, st.BytesIn)
			}
		}
		for i := 1; i <= 3; i++ {
			if _, err := s.TryPop(buf[:]); err != nil {
				t.Fatal(err)
			}
			if s.Cursor() != uint64(i) {
				t.Fatalf("after read %d: Cursor %d", i, s.Cursor())
			}
			if ss := b.Subscribers(); len(ss) != 1 || ss[0].Delivered != uint64(i) || ss[0].Bytes != uint64(7*i) {
				t.Fatalf("after read %d: %+v", i, ss)
			}
		}
		if _, err := s.TryPop(buf[:]); !errors.Is(err, ErrEmpty) {
			t.Fatal(err)
		}
		if ss := b.Subscribers(); ss[0].EmptyEvents != 1 {
			t.Fatalf("EmptyEvents %d", ss[0].EmptyEvents)
		}
	})
}
