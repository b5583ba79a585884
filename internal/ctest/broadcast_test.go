package ctest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// Broadcast rings between Go and C peers across processes: a Go producer
// feeding tethered and lossy C subscribers at once and a C producer
// feeding Go subscribers, 100,000 messages of variable length each way;
// the lossy subscribers are lapped and every gap they see is exactly the
// missed count reported before it; each side blocks (slow tethered
// subscribers hold the producer, pauses put subscribers to sleep) and is
// woken by the other; the stream ends in EOF. A killed C tethered
// subscriber is released by the Go producer, and a killed C producer
// (holding a marked slot) is taken over by a Go producer handle, which
// publishes the marked slot as a hole.

var bcastCfg = ring.Config{Slots: 64, SlotSize: streamSlot, Subscribers: 4}

func newBroadcast(t *testing.T) (string, *arena.Arena, *ring.Broadcast) {
	t.Helper()
	path, a := newArena(t, ring.KindBroadcast, bcastCfg)
	b, err := ring.CreateBroadcast(a, "r", bcastCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return path, a, b
}

// subEntry is a subscriber entry read at the offsets of docs/ring.md
// (subscriberEntry); prodEntry the producer side's words of a peer entry.
type subEntry struct {
	pid, roles, gen                   uint32
	missed, lapped, cursor            uint64
	delivered, bytesOut               uint64
	msgsIn, bytesIn, fullEvents, slps uint64
}

func rawSubEntry(t *testing.T, a *arena.Arena, idx uint64) subEntry {
	t.Helper()
	reg, err := a.Lookup("r")
	if err != nil {
		t.Fatal(err)
	}
	mem := reg.Bytes()
	le := binary.LittleEndian
	off := le.Uint64(mem[56:]) + idx*uint64(le.Uint32(mem[68:]))
	e := mem[off : off+128]
	return subEntry{
		pid: le.Uint32(e[0:]), roles: le.Uint32(e[4:]), gen: le.Uint32(e[60:]),
		missed: le.Uint64(e[32:]), lapped: le.Uint64(e[48:]), cursor: le.Uint64(e[64:]),
		delivered: le.Uint64(e[80:]), bytesOut: le.Uint64(e[88:]),
		msgsIn: le.Uint64(e[32:]), bytesIn: le.Uint64(e[40:]), fullEvents: le.Uint64(e[48:]),
		slps: le.Uint64(e[104:]),
	}
}

// pusher is what a Go broadcast producer handle offers the helpers.
type pusher interface {
	Push(ctx context.Context, msg []byte) error
	SlotSize() int
}

// bcastProduce pushes producer 0's messages from..n-1, pausing 20 ms
// every pauseEvery.
func bcastProduce(ctx context.Context, b pusher, from, n, pauseEvery uint64) (bytesSent, sum uint64, err error) {
	ss := b.SlotSize()
	buf := make([]byte, ss)
	for s := from; s < n; s++ {
		m := fillMsg(buf[:msgLen(s, 0, ss)], 0, s)
		if err := b.Push(ctx, m); err != nil {
			return bytesSent, sum, fmt.Errorf("push %d: %w", s, err)
		}
		bytesSent += uint64(len(m))
		sum = sumMsg(sum, m)
		if pauseEvery != 0 && (s+1)%pauseEvery == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return bytesSent, sum, nil
}

// subResult is what a Go subscriber read.
type subResult struct {
	got, bytes, sum, laps, missed, next uint64
}

// goSubscribe reads producer 0's messages until EOF: in order and intact,
// and (lossy) each gap exactly the Missed of the lap reported before it.
// hole, if not 0, is the one position allowed to be passed silently.
// pauseEvery > 0 sleeps 20 ms every pauseEvery messages.
func goSubscribe(ctx context.Context, s *ring.Subscriber, pauseEvery, hole uint64) (subResult, error) {
	var r subResult
	buf := make([]byte, s.SlotSize())
	for {
		n, err := s.Pop(ctx, buf)
		var le *ring.LappedError
		switch {
		case errors.Is(err, io.EOF):
			return r, nil
		case errors.As(err, &le):
			if !s.Lossy() || le.Missed == 0 {
				return r, fmt.Errorf("lapped (missed %d), lossy %v", le.Missed, s.Lossy())
			}
			r.laps++
			r.missed += le.Missed
			r.next += le.Missed
			continue
		case errors.Is(err, ring.ErrPeerDead):
			// Every producer handle dead (a killed one not taken over
			// yet): the takeover test's subscriber waits on.
			continue
		case err != nil:
			return r, fmt.Errorf("after %d messages: %w", r.got, err)
		}
		m := buf[:n]
		if n < 12 {
			return r, fmt.Errorf("message of %d bytes", n)
		}
		p, seq := binary.LittleEndian.Uint32(m), binary.LittleEndian.Uint64(m[4:])
		if hole != 0 && seq == hole+1 && r.next == hole {
			r.next = seq
		}
		if p != 0 || seq != r.next {
			return r, fmt.Errorf("producer %d seq %d, want %d (laps %d missed %d)", p, seq, r.next, r.laps, r.missed)
		}
		if want := fillMsg(make([]byte, msgLen(seq, 0, s.SlotSize())), 0, seq); string(m) != string(want) {
			return r, fmt.Errorf("seq %d: bad content", seq)
		}
		r.got++
		r.bytes += uint64(n)
		r.sum = sumMsg(r.sum, m)
		r.next = seq + 1
		if pauseEvery != 0 && r.got%pauseEvery == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func joined(t *testing.T, p *cproc) uint64 {
	t.Helper()
	p.waitOutput(t, "joined")
	v, err := strconv.ParseUint(xproc.Field(p.out.String(), "peer"), 10, 64)
	if err != nil {
		t.Fatalf("joined without peer=: %q", p.out.String())
	}
	return v
}

func TestBroadcastGoToC(t *testing.T) { bcastGoToC(t, ctool(t, false), streamN) }

// bcastGoToC: a Go producer and three C subscribers at once (tethered at
// Newest, pausing so that it holds the producer back; tethered at Oldest;
// lossy, pausing so that it is lapped).
func bcastGoToC(t *testing.T, tool string, n uint64) {
	path, a, b := newBroadcast(t)
	slow := fmt.Sprint(n / 4)
	subs := []*cproc{
		startC(t, tool, "subscribe", path, "r", "tethered", "newest", slow, "20"),
		startC(t, tool, "subscribe", path, "r", "tethered", "oldest"),
		startC(t, tool, "subscribe", path, "r", "lossy", "newest", fmt.Sprint(n/100), "3"),
	}
	idx := make([]uint64, len(subs))
	for i, p := range subs {
		idx[i] = joined(t, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	sent, sum, err := bcastProduce(ctx, b, 0, n, n/10)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil { // the producer's Close ends the stream: EOF
		t.Fatal(err)
	}
	var delivered uint64
	for i, p := range subs {
		out := p.wait(t)
		got, missed, laps := field(t, out, "got"), field(t, out, "missed"), field(t, out, "laps")
		delivered += got
		e := rawSubEntry(t, a, idx[i])
		if e.delivered != got || e.bytesOut != field(t, out, "bytes") || e.missed != missed || e.lapped != laps {
			t.Errorf("subscriber %d: entry %d %+v, C said %s", i, idx[i], e, out)
		}
		if e.pid != 0 || e.cursor != n {
			t.Errorf("subscriber %d: entry PID %d cursor %d after close, want 0 and %d", i, e.pid, e.cursor, n)
		}
		if i < 2 {
			if e.roles != 0xE || got != n || laps != 0 || field(t, out, "bytes") != sent || field(t, out, "sum") != sum {
				t.Errorf("tethered C subscriber %d: %s (roles %#x), want got=%d bytes=%d sum=%d", i, out, e.roles, n, sent, sum)
			}
			continue
		}
		if e.roles != 0x6 || got+missed != n || laps == 0 || field(t, out, "next") != n {
			t.Errorf("lossy C subscriber: %s (roles %#x): want got+missed = %d with at least one lap", out, e.roles, n)
		}
		t.Logf("lossy C subscriber: got %d, missed %d in %d laps", got, missed, laps)
	}
	if c := field(t, subs[1].out.String(), "sleeps"); c == 0 {
		t.Errorf("the fast tethered C subscriber never slept (the producer pauses every %d)", n/10)
	}
	st, err := ring.Inspect(a, "r")
	if err != nil {
		t.Fatal(err)
	}
	if st.MsgsIn != n || st.MsgsOut != delivered || !st.Closed || st.FullEvents == 0 || st.Wakes == 0 {
		t.Errorf("Go Stats %+v: want MsgsIn %d, MsgsOut %d (the C entries' Delivered), Closed, full events (the slow tethered C subscriber held the producer) and wakes", st, n, delivered)
	}
}

func TestBroadcastCToGo(t *testing.T) { bcastCToGo(t, ctool(t, false), streamN) }

// bcastCToGo: a C producer, a tethered Go subscriber that pauses (the C
// producer blocks and sleeps) and a lossy Go subscriber that pauses
// longer (lapped).
func bcastCToGo(t *testing.T, tool string, n uint64) {
	path, a, _ := newBroadcast(t)
	teth, err := ring.Subscribe(a, "r", ring.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer teth.Close()
	lossy, err := ring.Subscribe(a, "r", ring.SubscribeOptions{Lossy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lossy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	type res struct {
		r   subResult
		err error
	}
	tc, lc := make(chan res, 1), make(chan res, 1)
	go func() { r, err := goSubscribe(ctx, teth, n/4, 0); tc <- res{r, err} }()
	go func() { r, err := goSubscribe(ctx, lossy, n/50, 0); lc <- res{r, err} }()
	prod := startC(t, tool, "bproduce", path, "r", fmt.Sprint(n), fmt.Sprint(n/10), "20")
	tr, lr := <-tc, <-lc
	out := prod.wait(t)
	if tr.err != nil || lr.err != nil {
		t.Fatalf("tethered: %v; lossy: %v", tr.err, lr.err)
	}
	if tr.r.got != n || tr.r.bytes != field(t, out, "bytes") {
		t.Fatalf("tethered Go subscriber: %+v; C sent %s", tr.r, out)
	}
	if lr.r.got+lr.r.missed != n || lr.r.next != n || lr.r.laps == 0 {
		t.Fatalf("lossy Go subscriber: %+v, want got+missed = %d with at least one lap", lr.r, n)
	}
	if field(t, out, "sleeps") == 0 || field(t, out, "full") == 0 {
		t.Errorf("the C producer never waited for the slow tethered Go subscriber: %s", out)
	}
	ts, ls := teth.Stats(), lossy.Stats()
	if ts.Delivered != n || ts.Sleeps == 0 || ls.Delivered != lr.r.got || ls.Missed != lr.r.missed || ls.Lapped != lr.r.laps {
		t.Errorf("Go subscriber stats: tethered %+v, lossy %+v (read %+v)", ts, ls, lr.r)
	}
	// The C producer's entry (released: PID 0) at the documented offsets.
	e := rawSubEntry(t, a, field(t, out, "peer"))
	if e.msgsIn != n || e.bytesIn != tr.r.bytes || e.roles != 1 || e.pid != 0 {
		t.Errorf("C producer's entry: %+v, want MsgsIn %d BytesIn %d Roles 1 PID 0", e, n, tr.r.bytes)
	}
	if st := teth.Stats(); st.Cursor != n {
		t.Errorf("tethered cursor %d, want %d", st.Cursor, n)
	}
	t.Logf("lossy Go subscriber: got %d, missed %d in %d laps", lr.r.got, lr.r.missed, lr.r.laps)
}

// TestBroadcastKilledCSubscriber: a tethered C subscriber stops reading
// and holds the Go producer at exactly a ring past its cursor; killed, it
// is found dead by the blocked producer, which goes on, and a tethered Go
// subscriber gets every message.
func TestBroadcastKilledCSubscriber(t *testing.T) {
	tool := ctool(t, false)
	const hang, n = 100, 5000
	path, a, b := newBroadcast(t)
	goSub, err := ring.Subscribe(a, "r", ring.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer goSub.Close()
	csub := startC(t, tool, "subscribe", path, "r", "tethered", "newest", "0", "0", fmt.Sprint(hang))
	idx := joined(t, csub)
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	sc := make(chan error, 1)
	var sr subResult
	go func() {
		var err error
		sr, err = goSubscribe(ctx, goSub, 0, 0)
		sc <- err
	}()
	pc := make(chan error, 1)
	go func() { _, _, err := bcastProduce(ctx, b, 0, n, 0); pc <- err }()
	csub.waitOutput(t, "holding")
	deadline := time.Now().Add(childTimeout)
	for b.Stats().MsgsIn < hang+uint64(bcastCfg.Slots) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if in := b.Stats().MsgsIn; in != hang+uint64(bcastCfg.Slots) {
		t.Fatalf("producer at %d with the C subscriber's cursor at %d: want it held at %d", in, hang, hang+bcastCfg.Slots)
	}
	select {
	case err := <-pc:
		t.Fatalf("producer finished while held: %v", err)
	default:
	}
	if e := rawSubEntry(t, a, idx); e.cursor != hang || e.roles != 0xE {
		t.Fatalf("C subscriber entry %+v, want cursor %d roles 0xE", e, hang)
	}
	csub.kill()
	if err := <-pc; err != nil {
		t.Fatalf("producer after the C subscriber's death: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-sc; err != nil || sr.got != n {
		t.Fatalf("Go subscriber: %+v %v, want %d", sr, err, n)
	}
	for _, s := range b.Subscribers() {
		if uint64(s.Index) == idx && s.Alive {
			t.Errorf("the killed C subscriber's entry reads alive: %+v", s)
		}
	}
}

// TestBroadcastKilledCProducer: the C producer dies holding a reservation
// (its slot marked, never completed); a Go producer handle takes the side
// over, publishes the marked slot as a hole (Skipped 1) and goes on; the
// Go subscriber passes the hole silently and reads the rest to EOF.
func TestBroadcastKilledCProducer(t *testing.T) {
	tool := ctool(t, false)
	const k, n = 1000, 3000
	path, a, _ := newBroadcast(t)
	sub, err := ring.Subscribe(a, "r", ring.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	sc := make(chan error, 1)
	var sr subResult
	go func() {
		var err error
		sr, err = goSubscribe(ctx, sub, 0, k)
		sc <- err
	}()
	prod := startC(t, tool, "bproduce", path, "r", fmt.Sprint(n), "0", "0", fmt.Sprint(k))
	prod.waitOutput(t, "holding")
	prod.kill()
	b2, err := ring.OpenBroadcast(a, "r")
	if err != nil {
		t.Fatal(err)
	}
	if st := b2.Stats(); st.DeadPeers != 1 {
		t.Errorf("after the kill: DeadPeers %d, want 1 (the C producer's liveness lock is gone)", st.DeadPeers)
	}
	if _, _, err := bcastProduce(ctx, b2, k+1, n, 0); err != nil {
		t.Fatalf("Go producer after the takeover: %v", err)
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-sc; err != nil {
		t.Fatal(err)
	}
	if sr.got != n-1 || sr.next != n {
		t.Fatalf("Go subscriber got %d up to %d, want %d (all but the hole at %d)", sr.got, sr.next, n-1, k)
	}
	if st := sub.Stats(); st.Cursor != n {
		t.Errorf("subscriber cursor %d, want %d", st.Cursor, n)
	}
	if st, _ := ring.Inspect(a, "r"); st.Skipped != 1 || st.MsgsIn != n {
		t.Errorf("Stats %+v: want Skipped 1 (the C producer's marked slot) and MsgsIn %d", st, n)
	}
}

// TestBroadcastSanitizers: the broadcast streams with the C side built
// with -fsanitize=address,undefined.
func TestBroadcastSanitizers(t *testing.T) {
	tool := ctool(t, true)
	t.Run("GoToC", func(t *testing.T) { bcastGoToC(t, tool, 20000) })
	t.Run("CToGo", func(t *testing.T) { bcastCToGo(t, tool, 20000) })
}
