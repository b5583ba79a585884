package ring

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// newHeapBroadcast builds a broadcast ring over heap memory, where the
// race detector sees every access.
func newHeapBroadcast(t testing.TB, cfg Config) (*Broadcast, []byte) {
	t.Helper()
	size, err := Size(KindBroadcast, cfg, 128)
	if err != nil {
		t.Fatal(err)
	}
	mem := make([]byte, size)
	b, err := NewBroadcast(mem, cfg, 128)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, mem
}

func subscribeHeap(t testing.TB, mem []byte, opt SubscribeOptions) *Subscriber {
	t.Helper()
	s, err := AttachSubscriber(mem, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seqMsg is a test message: position, then a checksum of the position
// and the filler, then filler bytes derived from the position.
func seqMsg(buf []byte, i uint64, size int) []byte {
	m := buf[:size]
	binary.LittleEndian.PutUint64(m, i)
	for j := 12; j < size; j++ {
		m[j] = byte(i>>(j%8)) ^ byte(j)
	}
	binary.LittleEndian.PutUint32(m[8:], crc32.ChecksumIEEE(append(m[:8:8], m[12:]...)))
	return m
}

// checkSeqMsg returns the message's position, or an error if it is torn.
func checkSeqMsg(m []byte) (uint64, error) {
	if len(m) < 12 {
		return 0, errors.New("short message")
	}
	i := binary.LittleEndian.Uint64(m)
	want := crc32.ChecksumIEEE(append(m[:8:8], m[12:]...))
	if binary.LittleEndian.Uint32(m[8:]) != want {
		return i, errors.New("torn message: checksum mismatch")
	}
	return i, nil
}

func TestBroadcastJoin(t *testing.T) {
	b, mem := newHeapBroadcast(t, Config{Slots: 8, SlotSize: 64})
	var buf [64]byte
	for i := uint64(0); i < 5; i++ {
		if err := b.TryPush(seqMsg(buf[:], i, 20)); err != nil {
			t.Fatal(err)
		}
	}
	old := subscribeHeap(t, mem, SubscribeOptions{From: Oldest})
	nw := subscribeHeap(t, mem, SubscribeOptions{From: Newest})
	if got := old.Lag(); got != 5 {
		t.Errorf("Oldest Lag = %d, want 5", got)
	}
	if got := nw.Lag(); got != 0 {
		t.Errorf("Newest Lag = %d, want 0", got)
	}
	if _, err := nw.TryPop(buf[:]); err != ErrEmpty {
		t.Fatalf("Newest TryPop on nothing new: %v, want ErrEmpty", err)
	}
	for i := uint64(5); i < 8; i++ {
		if err := b.TryPush(seqMsg(buf[:], i, 20)); err != nil {
			t.Fatal(err)
		}
	}
	// The Oldest subscriber is tethered at 0: the ring is full.
	if err := b.TryPush(seqMsg(buf[:], 8, 20)); err != ErrFull {
		t.Fatalf("push into a ring a tethered subscriber holds full: %v, want ErrFull", err)
	}
	for want := uint64(0); want < 8; want++ {
		n, err := old.TryPop(buf[:])
		if err != nil {
			t.Fatalf("Oldest pop %d: %v", want, err)
		}
		if got, err := checkSeqMsg(buf[:n]); err != nil || got != want {
			t.Fatalf("Oldest got %d (%v), want %d", got, err, want)
		}
	}
	for want := uint64(5); want < 8; want++ {
		n, err := nw.TryPop(buf[:])
		if err != nil {
			t.Fatalf("Newest pop %d: %v", want, err)
		}
		if got, _ := checkSeqMsg(buf[:n]); got != want {
			t.Fatalf("Newest got %d, want %d", got, want)
		}
	}
	if st := b.Stats(); st.FullEvents != 1 || st.MsgsIn != 8 {
		t.Errorf("Stats MsgsIn %d FullEvents %d, want 8 and 1", st.MsgsIn, st.FullEvents)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Subscriber{old, nw} {
		if _, err := s.TryPop(buf[:]); err != io.EOF {
			t.Errorf("after Close and drain: %v, want io.EOF", err)
		}
	}
}

func TestBroadcastLossyLap(t *testing.T) {
	b, mem := newHeapBroadcast(t, Config{Slots: 8, SlotSize: 64})
	s := subscribeHeap(t, mem, SubscribeOptions{From: Oldest, Lossy: true})
	var buf [64]byte
	for i := uint64(0); i < 20; i++ {
		if err := b.TryPush(seqMsg(buf[:], i, 16)); err != nil {
			t.Fatalf("push %d with only a lossy subscriber: %v", i, err)
		}
	}
	n, err := s.TryPop(buf[:])
	var lap *LappedError
	if n != 0 || !errors.Is(err, ErrLapped) || !errors.As(err, &lap) {
		t.Fatalf("lapped TryPop = %d, %v; want 0 and a *LappedError", n, err)
	}
	if lap.Missed != 12 {
		t.Errorf("Missed = %d, want 12 (positions 0..11: 12..19 are still in the ring)", lap.Missed)
	}
	got := lap.Missed
	for {
		n, err := s.TryPop(buf[:])
		if err == ErrEmpty {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i, _ := checkSeqMsg(buf[:n]); i != got {
			t.Fatalf("after the lap got %d, want %d", i, got)
		}
		got++
	}
	if got != 20 {
		t.Errorf("Missed + delivered = %d, want 20", got)
	}
	st := s.Stats()
	if st.Lapped != 1 || st.Missed != 12 {
		t.Errorf("Stats Lapped %d Missed %d, want 1 and 12", st.Lapped, st.Missed)
	}
	// Lapped before Close: ErrLapped first, then the rest, then io.EOF.
	for i := uint64(20); i < 40; i++ {
		b.TryPush(seqMsg(buf[:], i, 16))
	}
	b.Close()
	if _, err := s.TryPop(buf[:]); !errors.Is(err, ErrLapped) {
		t.Fatalf("lapped then closed: %v, want ErrLapped first", err)
	}
	k := 0
	for {
		_, err := s.TryPop(buf[:])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		k++
	}
	if k != 8 {
		t.Errorf("read %d after the lap, want 8 (a ring's worth)", k)
	}
}

func TestBroadcastTetherReleasedOnClose(t *testing.T) {
	b, mem := newHeapBroadcast(t, Config{Slots: 4, SlotSize: 8})
	s := subscribeHeap(t, mem, SubscribeOptions{})
	for i := 0; i < 4; i++ {
		if err := b.TryPush([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- b.Push(ctx, []byte{9})
	}()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Push returned %v while the tethered subscriber held the ring full", err)
	default:
	}
	s.Close()
	if err := <-done; err != nil {
		t.Fatalf("Push after the subscriber left: %v", err)
	}
}

func TestBroadcastSubscriberTableFull(t *testing.T) {
	_, mem := newHeapBroadcast(t, Config{Slots: 4, SlotSize: 8, Subscribers: 2})
	a := subscribeHeap(t, mem, SubscribeOptions{})
	subscribeHeap(t, mem, SubscribeOptions{Lossy: true})
	if _, err := AttachSubscriber(mem, SubscribeOptions{}); !errors.Is(err, ErrSubscribers) {
		t.Fatalf("third subscriber of 2: %v, want ErrSubscribers", err)
	}
	a.Close()
	c, err := AttachSubscriber(mem, SubscribeOptions{})
	if err != nil {
		t.Fatalf("subscriber after one left: %v", err)
	}
	c.Close()
}

// TestBroadcastStress runs a producer against tethered subscribers, which
// must see every message in order, and a slow lossy one, whose Missed
// plus delivered must equal what was pushed, with no torn message.
func TestBroadcastStress(t *testing.T) {
	n := uint64(200_000)
	if testing.Short() {
		n = 20_000
	}
	b, mem := newHeapBroadcast(t, Config{Slots: 64, SlotSize: 128})
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	var subs []*Subscriber
	for i := 0; i < 3; i++ {
		subs = append(subs, subscribeHeap(t, mem, SubscribeOptions{From: Oldest, Lossy: i == 2}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(subs))
	for k, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 128)
			var next, missed uint64
			for {
				m, err := s.Pop(ctx, buf)
				if err == io.EOF {
					break
				}
				var lap *LappedError
				if errors.As(err, &lap) {
					if !s.Lossy() {
						errs <- errors.New("a tethered subscriber was lapped")
						return
					}
					missed += lap.Missed
					next += lap.Missed
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				i, err := checkSeqMsg(buf[:m])
				if err != nil {
					errs <- err
					return
				}
				if i != next {
					errs <- errors.New("out of order")
					return
				}
				next++
				if s.Lossy() && next%1000 == 0 {
					time.Sleep(time.Millisecond) // slow: gets lapped
				}
			}
			if next != n {
				errs <- errors.New("delivered + missed != pushed")
			}
			t.Logf("subscriber %d (lossy %v): delivered %d, missed %d", k, s.Lossy(), n-missed, missed)
		}()
	}
	buf := make([]byte, 128)
	for i := uint64(0); i < n; i++ {
		if err := b.Push(ctx, seqMsg(buf, i, 12+rng.IntN(116))); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
