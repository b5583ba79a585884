package ring

// Regression tests of the broadcast bugs the model and the
// linearizability test found (bcastBug in broadcast_model_test.go, and the
// attach race of broadcast_linearize_test.go), all fixed: allBcastBugs is
// empty, so the model and the fuzz target cover those paths again, and
// TestBroadcastModelFindsBugs runs the model with each bug's steering off.

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestBroadcastCommitAfterCloseWrite (bugCommitClosed): a reservation
// committed after another handle's CloseWrite. Commit returns ErrClosed,
// yet its Seq store came first, so subscribers read the message: the
// producer is told it was not published while every subscriber gets it
// (even one that joins later). SPSC publishes such a message under the
// closed bit and returns nil (spsc_takeover.go, publishFailed); either
// that, or an error and no delivery.
func TestBroadcastCommitAfterCloseWrite(t *testing.T) {
	b, mem := newHeapBroadcast(t, Config{Slots: 4, SlotSize: 32})
	s := subscribeHeap(t, mem, SubscribeOptions{})
	res, err := b.TryReserve(4)
	if err != nil {
		t.Fatal(err)
	}
	copy(res.Buf, "late")
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	cerr := b.Commit(res, 4)
	later := subscribeHeap(t, mem, SubscribeOptions{From: Oldest})
	for name, sub := range map[string]*Subscriber{"tethered": s, "joined after": later} {
		var buf [32]byte
		n, err := sub.TryPop(buf[:])
		if cerr != nil && err != io.EOF {
			t.Errorf("Commit after CloseWrite returned %v, but the %s subscriber's TryPop returned %q, %v (want io.EOF)",
				cerr, name, buf[:n], err)
		}
		if cerr == nil && (err != nil || string(buf[:n]) != "late") {
			t.Errorf("Commit after CloseWrite succeeded, but the %s subscriber's TryPop returned %q, %v", name, buf[:n], err)
		}
	}
}

// TestBroadcastJoinWindowSkipsJoinTail (bugJoinSkip): a tethered
// subscriber joins at Oldest while the producer's cached limit is its
// tail + Slots (the cache was refreshed by a call that then published
// nothing: a batch whose first message is too large, or a reservation).
// The producer writes a whole ring without looking at the cursors again
// (the documented join window), and the subscriber, lapped in its window,
// moves to tail+1-Slots: one past its join tail. The message at the join
// tail, pushed after Subscribe returned, is lost without a word, though
// "positions from the second read on are safe" (subscriber.go).
func TestBroadcastJoinWindowSkipsJoinTail(t *testing.T) {
	for _, refresh := range []string{"oversized batch", "reservation"} {
		t.Run(refresh, func(t *testing.T) {
			const slots = 4
			b, mem := newHeapBroadcast(t, Config{Slots: slots, SlotSize: 32})
			var buf [32]byte
			for i := uint64(0); i < slots; i++ {
				if err := b.TryPush(seqMsg(buf[:], i, 16)); err != nil {
					t.Fatal(err)
				}
			}
			var res Reservation
			if refresh == "reservation" {
				var err error
				if res, err = b.TryReserve(16); err != nil {
					t.Fatal(err)
				}
			} else if _, err := b.TryPushBatch([][]byte{make([]byte, 33)}); err != ErrTooLarge {
				t.Fatal(err)
			}
			s := subscribeHeap(t, mem, SubscribeOptions{From: Oldest})
			joinTail := s.s.joinTail
			next := uint64(slots)
			if refresh == "reservation" {
				seqMsg(res.Buf, next, 16)
				if err := b.Commit(res, 16); err != nil {
					t.Fatal(err)
				}
				next++
			}
			for ; next < 2*slots; next++ {
				if err := b.TryPush(seqMsg(buf[:], next, 16)); err != nil {
					t.Fatalf("push %d: %v", next, err)
				}
			}
			var got []uint64
			for {
				n, err := s.TryPop(buf[:])
				if err == ErrEmpty {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				i, _ := checkSeqMsg(buf[:n])
				got = append(got, i)
			}
			if len(got) == 0 || got[0] > joinTail {
				t.Errorf("tethered subscriber joined with join tail %d read %v: message %d, pushed after it joined, is lost",
					joinTail, got, joinTail)
			}
		})
	}
}

// TestBroadcastTetheredPeekRewritten (bugPeekWindow): a tethered
// subscriber joins at Oldest in the window of the producer's stale cache
// and peeks its first message; the producer rewrites that slot (the
// tether does not hold yet), so Data changes under the caller, and
// Release returns nil: the caller cannot tell that what it read was
// another message, torn or not. A lossy subscriber is told (ErrLapped).
func TestBroadcastTetheredPeekRewritten(t *testing.T) {
	const slots = 4
	b, mem := newHeapBroadcast(t, Config{Slots: slots, SlotSize: 32})
	var buf [32]byte
	for i := uint64(0); i <= slots; i++ { // the fifth push refreshes the cache: limit 8
		if err := b.TryPush(seqMsg(buf[:], i, 16)); err != nil {
			t.Fatal(err)
		}
	}
	s := subscribeHeap(t, mem, SubscribeOptions{From: Oldest})
	m, err := s.TryPeek()
	if err != nil {
		t.Fatal(err)
	}
	before := bytes.Clone(m.Data)
	if err := b.TryPush(seqMsg(buf[:], slots+1, 16)); err != nil {
		t.Fatal(err)
	}
	changed := !bytes.Equal(before, m.Data)
	if err := s.Release(m); err == nil && changed {
		i, _ := checkSeqMsg(before)
		j, _ := checkSeqMsg(m.Data)
		t.Errorf("a tethered subscriber's peeked message %d became message %d under it, and Release returned nil", i, j)
	}
}

// TestSubscriberStatsFreshEntry (bugStatsReuse): a subscriber that takes
// the entry another one left reports that one's laps, misses and
// deliveries as its own in Stats ("this subscriber's counters"; "Lapped
// and Missed are exact").
func TestSubscriberStatsFreshEntry(t *testing.T) {
	b, mem := newHeapBroadcast(t, Config{Slots: 4, SlotSize: 32, Subscribers: 1})
	s := subscribeHeap(t, mem, SubscribeOptions{From: Oldest, Lossy: true})
	var buf [32]byte
	for i := uint64(0); i < 10; i++ {
		if err := b.TryPush(seqMsg(buf[:], i, 16)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TryPop(buf[:]); !errors.Is(err, ErrLapped) {
		t.Fatalf("TryPop: %v, want ErrLapped", err)
	}
	if _, err := s.TryPop(buf[:]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	st := subscribeHeap(t, mem, SubscribeOptions{Lossy: true}).Stats()
	if st.Lapped != 0 || st.Missed != 0 || st.Delivered != 0 || st.Bytes != 0 {
		t.Errorf("a new subscriber's Stats: Lapped %d Missed %d Delivered %d Bytes %d, want zeros (its entry's previous subscriber's)",
			st.Lapped, st.Missed, st.Delivered, st.Bytes)
	}
}

// TestAttachConcurrentWithClose (the attach race): readHeader copies the
// whole 256-byte ring header with plain loads, the Closed word (and, on
// MPMC, the repair counters) included, which CloseWrite and Close of
// other handles store atomically: an attach in one goroutine concurrent
// with a close in another is a data race (go test -race reports it; the
// fields it needs, [0,124), are written only before State). The two
// goroutines below do not synchronise with each other.
func TestAttachConcurrentWithClose(t *testing.T) {
	for _, kind := range []string{"broadcast", "SPSC"} {
		t.Run(kind, func(t *testing.T) {
			var mem []byte
			var closer interface{ CloseWrite() error }
			if kind == "broadcast" {
				closer, mem = newHeapBroadcast(t, Config{Slots: 4, SlotSize: 8})
			} else {
				r, m := newHeapRing(t, kindSPSC, Config{Slots: 4, SlotSize: 8})
				closer, mem = r, m
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				closer.CloseWrite()
			}()
			go func() {
				defer wg.Done()
				time.Sleep(5 * time.Millisecond)
				if kind == "broadcast" {
					if s, err := AttachSubscriber(mem, SubscribeOptions{}); err == nil {
						s.Close()
					}
				} else if r, err := AttachSPSC(mem); err == nil {
					r.Close()
				}
			}()
			wg.Wait()
		})
	}
}

// TestBroadcastModelFindsBugs runs the model with each known bug's
// steering off: it fails (in the first round that reaches the bug) until
// the bug is fixed.
func TestBroadcastModelFindsBugs(t *testing.T) {
	for _, bug := range []bcastBug{bugCommitClosed, bugJoinSkip, bugPeekWindow, bugStatsReuse} {
		if fixedBcastBugs&bug == 0 {
			t.Fatalf("%v is neither open nor fixed", bug)
		}
		t.Run(bug.String(), func(t *testing.T) {
			seed := testSeed(t)
			for round := 0; round < 25; round++ { // a few: TestBroadcastModel covers the same paths now
				rng := rand.New(rand.NewPCG(seed, uint64(round)))
				cfg := Config{
					Slots:       1 << (1 + rng.IntN(4)),
					SlotSize:    1 + rng.IntN(40),
					Peers:       []int{0, 1, 2, 3}[rng.IntN(4)],
					Subscribers: 1 + rng.IntN(4),
				}
				runBcastModel(t, cfg, &rngChooser{r: rng, left: 1500}, 1500, allBcastBugs&^bug, nil)
			}
		})
	}
}
