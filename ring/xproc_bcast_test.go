package ring

// Cross-process broadcast: a producer process and subscriber processes
// over one arena. Tethered subscribers see every message in order; a
// killed tethered subscriber stops holding the producer; lossy
// subscribers' delivered plus missed is exactly what was pushed, with no
// torn message; subscribers join at Newest and Oldest mid-stream, leave
// and rejoin.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
)

func init() {
	roles["xp-bcast-producer"] = xpBcastProducer
	roles["xp-bcast-subscriber"] = xpBcastSubscriber
}

// xpBcastSpec is what every broadcast child gets: the arena and ring.
func xpBcastArgs(path string, kv ...string) []string {
	return append([]string{"path=" + path, "ring=bc"}, kv...)
}

// xpBcastProducer pushes messages seqMsg(i) for i = 0.. with Push (n
// messages, or for dur), sizes from 12 to SlotSize, then Closes (ending
// the stream). Args: path ring [n] [dur] [batch].
func xpBcastProducer(args []string) error {
	a := xproc.ParseArgs(args)
	ar, err := arena.Open(a["path"])
	if err != nil {
		return err
	}
	defer ar.Close()
	b, err := OpenBroadcast(ar, a["ring"])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), xpChildTimeout)
	defer cancel()
	n := argU64(a, "n")
	var until time.Time
	if d, ok := a["dur"]; ok {
		dd, err := time.ParseDuration(d)
		if err != nil {
			return err
		}
		until, n = time.Now().Add(dd), ^uint64(0)
	}
	batch := max(int(argU64(a, "batch")), 1)
	size := b.SlotSize()
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	msgs := make([][]byte, batch)
	var i uint64
	var stall time.Duration // the longest push call
	start := time.Now()
	for i < n {
		if !until.IsZero() && i%1024 == 0 && time.Now().After(until) {
			break
		}
		k := min(uint64(batch), n-i)
		for j := uint64(0); j < k; j++ {
			msgs[j] = seqMsg(bufs[j], i+j, 12+int(xpMix(i+j)%uint64(size-11)))
		}
		t0 := time.Now()
		if _, err := b.PushBatch(ctx, msgs[:k]); err != nil {
			return fmt.Errorf("push %d: %w", i, err)
		}
		stall = max(stall, time.Since(t0))
		i += k
	}
	el := time.Since(start)
	st := b.Stats()
	if err := b.Close(); err != nil {
		return err
	}
	fmt.Printf("pushed=%d ns=%d full=%d stallns=%d\n", i, el.Nanoseconds(), st.FullEvents, stall.Nanoseconds())
	return nil
}

// xpBcastSubscriber subscribes (from=oldest|newest, lossy=1), prints
// "joined", reads until io.EOF (or n messages, then Closes), checking
// every message's checksum and that positions only grow: tethered, each
// is the last plus one; lossy, the gaps are exactly the Missed of the
// laps reported. slowEvery=k sleeps a millisecond every k messages.
// first=f: the first message must be f. Prints count, missed, laps, first
// and last. Args: path ring from lossy [n] [first] [slowEvery] [rejoin].
func xpBcastSubscriber(args []string) error {
	a := xproc.ParseArgs(args)
	ar, err := arena.Open(a["path"])
	if err != nil {
		return err
	}
	defer ar.Close()
	opt := SubscribeOptions{Lossy: a["lossy"] == "1"}
	if a["from"] == "oldest" {
		opt.From = Oldest
	}
	s, err := Subscribe(ar, a["ring"], opt)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Println("joined")
	ctx, cancel := context.WithTimeout(context.Background(), xpChildTimeout)
	defer cancel()
	n, slow := argU64(a, "n"), argU64(a, "slowEvery")
	buf := make([]byte, s.SlotSize())
	var count, missed, laps, first, next uint64
	started := false
	for n == 0 || count < n {
		k, err := s.Pop(ctx, buf)
		if err == io.EOF {
			break
		}
		var lap *LappedError
		if errors.As(err, &lap) {
			if !opt.Lossy {
				return fmt.Errorf("tethered subscriber lapped after %d messages: %v", count, err)
			}
			if k != 0 {
				return fmt.Errorf("lapped Pop returned n=%d", k)
			}
			laps++
			missed += lap.Missed
			if started {
				next += lap.Missed
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("after %d messages: %w", count, err)
		}
		i, err := checkSeqMsg(buf[:k])
		if err != nil {
			return fmt.Errorf("message %d (position %d): %w", count, i, err)
		}
		if !started {
			started, first, next = true, i, i
			if f, ok := a["first"]; ok && strconv.FormatUint(i, 10) != f {
				return fmt.Errorf("first message %d, want %s", i, f)
			}
		}
		if i != next {
			return fmt.Errorf("message %d is position %d, want %d (missed so far %d)", count, i, next, missed)
		}
		next++
		count++
		if slow != 0 && count%slow == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	st := s.Stats()
	if opt.Lossy && (st.Missed != missed || st.Lapped != laps) {
		return fmt.Errorf("Stats Missed %d Lapped %d, but the laps reported %d and %d", st.Missed, st.Lapped, missed, laps)
	}
	fmt.Printf("count=%d missed=%d laps=%d first=%d next=%d\n", count, missed, laps, first, next)
	return nil
}

func xpBcastCreate(t *testing.T, cfg Config) (*Broadcast, string) {
	t.Helper()
	a, path := xpArena(t, 8<<20)
	b, err := CreateBroadcast(a, "bc", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Detach() })
	return b, path
}

// xpWaitSubscribers waits until n live subscribers are attached and each
// child in watch has said its Subscribe returned ("joined").
func xpWaitSubscribers(t *testing.T, b *Broadcast, n int, watch ...*xproc.Child) {
	t.Helper()
	for _, c := range watch {
		xproc.WaitFor(t, "the subscriber to join", c, func() bool { return strings.Contains(c.Stdout(), "joined") })
	}
	deadline := time.Now().Add(xpChildTimeout)
	for {
		live := 0
		for _, s := range b.Subscribers() {
			if s.Alive {
				live++
			}
		}
		if live >= n {
			return
		}
		for _, c := range watch {
			if err := c.Err(); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers attached, want %d", live, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestXProcBroadcastTethered: one producer process, four tethered
// subscriber processes, 1,000,000 messages with positions and checksums;
// each subscriber sees all of them, in order (200,000 with -short).
func TestXProcBroadcastTethered(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	b, path := xpBcastCreate(t, Config{Slots: 1024, SlotSize: 128})
	var subs []*xproc.Child
	for i := 0; i < 4; i++ {
		subs = append(subs, xproc.StartT(t, "xp-bcast-subscriber", xpBcastArgs(path, "from=oldest", "first=0")...))
	}
	xpWaitSubscribers(t, b, 4, subs...)
	start := time.Now()
	prod := xproc.StartT(t, "xp-bcast-producer", xpBcastArgs(path, "n="+strconv.Itoa(n), "batch=16")...)
	xproc.WaitAll(t, time.Now().Add(xpChildTimeout), append(subs, prod), nil)
	t.Logf("%d messages to 4 subscriber processes in %v (%s)", n, time.Since(start), prod.Stdout())
	for i, c := range subs {
		if got := xproc.IntField(t, c.Stdout(), "count"); got != n {
			t.Errorf("subscriber %d got %d messages, want %d", i, got, n)
		}
	}
	st := b.Stats()
	if st.MsgsIn != uint64(n) || st.MsgsOut != 4*uint64(n) || !st.Closed {
		t.Errorf("Stats MsgsIn %d MsgsOut %d Closed %v, want %d, %d, true", st.MsgsIn, st.MsgsOut, st.Closed, n, 4*n)
	}
}

// TestXProcBroadcastKilledSubscriber kills one of two tethered subscriber
// processes mid-stream: the producer, held by it within a ring, must go
// on (its tether is released), and the other subscriber sees everything.
func TestXProcBroadcastKilledSubscriber(t *testing.T) {
	const n = 100_000
	b, path := xpBcastCreate(t, Config{Slots: 64, SlotSize: 64})
	keep := xproc.StartT(t, "xp-bcast-subscriber", xpBcastArgs(path, "from=oldest", "first=0")...)
	// The victim reads slowly, so the ring is full behind it when it dies.
	victim := xproc.StartT(t, "xp-bcast-subscriber", xpBcastArgs(path, "from=oldest", "slowEvery=100")...)
	xpWaitSubscribers(t, b, 2, keep, victim)
	prod := xproc.StartT(t, "xp-bcast-producer", xpBcastArgs(path, "n="+strconv.Itoa(n))...)
	xproc.WaitFor(t, "the victim to read", victim, func() bool {
		for _, s := range b.Subscribers() {
			if s.PID == victim.Pid() && s.Cursor > 1000 {
				return true
			}
		}
		return false
	})
	victim.Kill()
	killed := time.Now()
	xproc.WaitAll(t, time.Now().Add(xpChildTimeout), []*xproc.Child{prod, keep}, nil)
	stall := time.Duration(xproc.IntField(t, prod.Stdout(), "stallns"))
	t.Logf("producer finished %v after the kill; its longest push call took %v (%s)", time.Since(killed), stall, prod.Stdout())
	if stall > time.Second {
		t.Errorf("the producer was held %v by a dead tethered subscriber", stall)
	}
	if got := xproc.IntField(t, keep.Stdout(), "count"); got != n {
		t.Errorf("surviving subscriber got %d messages, want %d", got, n)
	}
	var dead int
	for _, s := range b.Subscribers() {
		if !s.Alive {
			dead++
			if s.Lag == 0 {
				t.Errorf("the dead subscriber's entry shows no lag: %+v", s)
			}
		}
	}
	if dead != 1 {
		t.Errorf("%d dead subscriber entries, want 1", dead)
	}
}

// TestXProcBroadcastLossy: a producer that no subscriber holds back runs
// flat out for 10 s (2 s with -short); a slow lossy subscriber is lapped
// again and again, a fast one now and then; for each, delivered plus
// missed is exactly what was pushed, and no message is torn (each
// subscriber checks every checksum).
func TestXProcBroadcastLossy(t *testing.T) {
	dur := 10 * time.Second
	if testing.Short() {
		dur = 2 * time.Second
	}
	b, path := xpBcastCreate(t, Config{Slots: 256, SlotSize: 256})
	slow := xproc.StartT(t, "xp-bcast-subscriber", xpBcastArgs(path, "from=oldest", "lossy=1", "slowEvery=50")...)
	fast := xproc.StartT(t, "xp-bcast-subscriber", xpBcastArgs(path, "from=oldest", "lossy=1")...)
	xpWaitSubscribers(t, b, 2, slow, fast)
	prod := xproc.StartT(t, "xp-bcast-producer", xpBcastArgs(path, "dur="+dur.String())...)
	xproc.WaitAll(t, time.Now().Add(dur+xpChildTimeout), []*xproc.Child{prod, slow, fast}, nil)
	pushed := uint64(xproc.IntField(t, prod.Stdout(), "pushed"))
	if full := xproc.IntField(t, prod.Stdout(), "full"); full != 0 {
		t.Errorf("the producer found the ring full %d times with only lossy subscribers", full)
	}
	for name, c := range map[string]*xproc.Child{"slow": slow, "fast": fast} {
		out := c.Stdout()
		count, missed := uint64(xproc.IntField(t, out, "count")), uint64(xproc.IntField(t, out, "missed"))
		t.Logf("%s: delivered %d + missed %d (laps %s) of %d", name, count, missed, xproc.Field(out, "laps"), pushed)
		if count+missed != pushed {
			t.Errorf("%s subscriber: delivered %d + missed %d = %d, want %d pushed", name, count, missed, count+missed, pushed)
		}
	}
	if missed := xproc.IntField(t, slow.Stdout(), "missed"); missed == 0 {
		t.Errorf("the slow subscriber was never lapped: the test did not test laps")
	}
}

// TestXProcBroadcastJoinLeave: subscribers join mid-stream at Oldest
// (every message still in the ring) and Newest (nothing older than their
// join), and one leaves and rejoins.
func TestXProcBroadcastJoinLeave(t *testing.T) {
	b, path := xpBcastCreate(t, Config{Slots: 64, SlotSize: 64})
	var buf [64]byte
	pushed := uint64(0)
	push := func(k uint64) {
		t.Helper()
		for i := uint64(0); i < k; i++ {
			if err := b.TryPush(seqMsg(buf[:], pushed, 12+int(pushed%50))); err != nil {
				t.Fatalf("push %d: %v", pushed, err)
			}
			pushed++
		}
	}
	// 100 pushed into 64 slots with nobody attached: 36..99 remain.
	push(100)
	old := xproc.StartT(t, "xp-bcast-subscriber", xpBcastArgs(path, "from=oldest", "first=36", "n=84")...)
	xpWaitSubscribers(t, b, 1, old)
	nw := xproc.StartT(t, "xp-bcast-subscriber", xpBcastArgs(path, "from=newest", "first=100", "n=20")...)
	xpWaitSubscribers(t, b, 2, old, nw)
	push(20) // 100..119
	xproc.WaitAll(t, time.Now().Add(xpChildTimeout), []*xproc.Child{old, nw}, nil)
	if got := xproc.Field(old.Stdout(), "next"); got != "120" {
		t.Errorf("Oldest subscriber ended at %s, want 120", got)
	}
	// Leave and rejoin: a second subscriber process at Newest starts after
	// everything so far, then one at Oldest gets what is still there.
	again := xproc.StartT(t, "xp-bcast-subscriber", xpBcastArgs(path, "from=newest", "first=120", "n=10")...)
	xpWaitSubscribers(t, b, 1, again)
	push(10)
	xproc.WaitAll(t, time.Now().Add(xpChildTimeout), []*xproc.Child{again}, nil)
	back := xproc.StartT(t, "xp-bcast-subscriber", xpBcastArgs(path, "from=oldest", "first=66", "n=64")...)
	xproc.WaitAll(t, time.Now().Add(xpChildTimeout), []*xproc.Child{back}, nil)
	if live := len(b.Subscribers()); live != 0 {
		t.Errorf("%d subscriber entries still occupied after every subscriber left", live)
	}
}

// argU64 is an optional numeric argument: 0 when absent.
func argU64(a xproc.Args, k string) uint64 {
	if _, ok := a[k]; !ok {
		return 0
	}
	return a.Uint64(k)
}
