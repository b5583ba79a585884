package ring

// Cross-process tests. The test binary re-executes itself (internal/xproc)
// so that producers and consumers run in separate processes over one arena
// file in t.TempDir(); the parent only creates the rings and orchestrates.
//
// Children take "key=value" arguments, report failure by returning an
// error (xproc prints it on stderr and exits 1) and report results as
// "key=value" tokens on stdout. Every wait on a child is bounded: a child
// still running at its deadline is killed and the test fails with the
// child's stderr.
//
// Message contents derive from a seed that is logged and can be set with
// SHMRING_XPROC_SEED to repeat a run.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
)

const (
	// xpChildTimeout bounds every child process and every blocking call a
	// child makes; nothing in these tests should take a tenth of it.
	xpChildTimeout = 60 * time.Second
	// xpSeedEnv overrides the logged seed.
	xpSeedEnv = "SHMRING_XPROC_SEED"
	// xpTimeout is the deadline of the timeout tests.
	xpTimeout = 50 * time.Millisecond
	// xpChildSlack is how late after its deadline a blocking call in a
	// child may return. A late return is retried (xpAttempts in all) so
	// that one scheduling hiccup on a shared machine does not fail the
	// test, while a systematic overshoot still does.
	xpChildSlack = 100 * time.Millisecond
	xpAttempts   = 3
	// xpCancelAfter is when the cancellation test cancels. It is not a
	// multiple of maxSleep (100ms): a sleeper that missed the wake-up on
	// cancellation would notice only at its next periodic re-check, at
	// 200ms, 80ms late, which xpCancelSlack rejects.
	xpCancelAfter = 120 * time.Millisecond
	xpCancelSlack = 50 * time.Millisecond
)

func init() {
	roles["xp-spsc-producer"] = xpSPSCProducer
	roles["xp-spsc-consumer"] = xpSPSCConsumer
	roles["xp-mpmc-producer"] = xpMPMCProducer
	roles["xp-mpmc-consumer"] = xpMPMCConsumer
	roles["xp-pop-eof"] = xpPopEOF
	roles["xp-push-closed"] = xpPushClosed
	roles["xp-timeouts"] = xpTimeouts
	roles["xp-cancel"] = xpCancel
}

var xpWaits = []WaitStrategy{WaitSpin, WaitYield, WaitBlock, WaitAdaptive}

// ---------------------------------------------------------------------------
// Tests.

// TestXProcSPSC streams 200,000 messages of every length from 0 to SlotSize
// from a producer process to a consumer process, which checks each byte
// against the message it regenerates for that sequence number.
func TestXProcSPSC(t *testing.T) {
	const n = 200_000
	seed := xpSeed(t)
	a, path := xpArena(t, 4<<20)
	r, err := CreateSPSC(a, "xp", Config{Slots: 256, SlotSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Detach()
	common := []string{"path=" + path, "ring=xp", "seed=" + strconv.FormatUint(seed, 10), "n=" + strconv.Itoa(n), "wait=adaptive"}
	start := time.Now()
	cons := xpStart(t, "xp-spsc-consumer", append(common, "mode=pop")...)
	prod := xpStart(t, "xp-spsc-producer", common...)
	xpWait(t, time.Now().Add(xpChildTimeout), []*xpChild{prod, cons}, nil)
	got := xpIntField(t, cons.stdout.String(), "count")
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

// TestXProcMPMC runs two producer processes and two consumer processes on
// one MPMC ring. Consumers check every message's checksum and log
// (producer, seq) in the order they received them; the parent proves
// exactly-once delivery over the union of the logs and per-producer FIFO
// within each log.
func TestXProcMPMC(t *testing.T) {
	const (
		producers = 2
		consumers = 2
		perProd   = 100_000
	)
	seed := xpSeed(t)
	a, path := xpArena(t, 4<<20)
	r, err := CreateMPMC(a, "xp", Config{Slots: 128, SlotSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Detach()
	dir := t.TempDir()
	common := []string{"path=" + path, "ring=xp", "seed=" + strconv.FormatUint(seed, 10), "n=" + strconv.Itoa(perProd)}
	start := time.Now()
	logs := make([]string, consumers)
	cons := make([]*xpChild, consumers)
	for c := range cons {
		logs[c] = filepath.Join(dir, fmt.Sprintf("consumer%d.log", c))
		cons[c] = xpStart(t, "xp-mpmc-consumer", append(common, "log="+logs[c], "producers="+strconv.Itoa(producers))...)
	}
	prods := make([]*xpChild, producers)
	for p := range prods {
		prods[p] = xpStart(t, "xp-mpmc-producer", append(common, "id="+strconv.Itoa(p))...)
	}
	deadline := time.Now().Add(xpChildTimeout)
	xpWait(t, deadline, prods, cons)
	// Every producer is done; close through a handle of our own so the
	// consumers drain and get io.EOF.
	h, err := OpenMPMC(a, "xp")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	h.Detach()
	xpWait(t, deadline, cons, nil)
	counts := make([]int, consumers)
	for c, ch := range cons {
		counts[c] = xpIntField(t, ch.stdout.String(), "count")
	}
	t.Logf("%d messages in %v; per consumer %v", producers*perProd, time.Since(start), counts)

	seen := make([][]uint8, producers)
	for p := range seen {
		seen[p] = make([]uint8, perProd)
	}
	total := 0
	for c, name := range logs {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(data)%8 != 0 || len(data)/8 != counts[c] {
			t.Fatalf("consumer %d: log of %d bytes for %d messages", c, len(data), counts[c])
		}
		last := make([]int64, producers)
		for p := range last {
			last[p] = -1
		}
		for off := 0; off < len(data); off += 8 {
			id := binary.LittleEndian.Uint32(data[off:])
			seq := binary.LittleEndian.Uint32(data[off+4:])
			if id >= producers || seq >= perProd {
				t.Fatalf("consumer %d, record %d: producer %d seq %d out of range", c, off/8, id, seq)
			}
			if int64(seq) <= last[id] {
				t.Fatalf("consumer %d, record %d: producer %d seq %d after seq %d: per-producer FIFO broken", c, off/8, id, seq, last[id])
			}
			last[id] = int64(seq)
			seen[id][seq]++
		}
		total += len(data) / 8
	}
	var bad []string
	for p := range seen {
		for s, k := range seen[p] {
			if k != 1 && len(bad) < 10 {
				bad = append(bad, fmt.Sprintf("producer %d seq %d delivered %d times", p, s, k))
			}
		}
	}
	if len(bad) > 0 || total != producers*perProd {
		t.Fatalf("%d messages delivered, want %d:\n%s", total, producers*perProd, strings.Join(bad, "\n"))
	}
	if st := r.Stats(); st.MsgsIn != producers*perProd || st.MsgsOut != producers*perProd || !st.Closed {
		t.Errorf("Stats = %+v, want MsgsIn = MsgsOut = %d, Closed", st, producers*perProd)
	}
}

// TestXProcBlockingSleeps makes each side sleep in the futex and be woken
// by the other process.
func TestXProcBlockingSleeps(t *testing.T) {
	const n = 20
	const gap = 20 * time.Millisecond
	seed := xpSeed(t)
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
		cons := xpStart(t, "xp-spsc-consumer", "path="+path, "ring=sleepy-consumer", "seed="+strconv.FormatUint(seed, 10),
			"n="+strconv.Itoa(n), "wait=block", "mode=pop")
		xpWaitFor(t, "the consumer to attach", cons, func() bool { return r.Stats().Peers >= 2 })
		buf := make([]byte, r.SlotSize())
		for i := uint64(0); i < n; i++ {
			time.Sleep(gap)
			if err := r.Push(ctx, xpSPSCMsg(buf, seed, i, r.SlotSize())); err != nil {
				t.Fatalf("push %d: %v", i, err)
			}
		}
		r.CloseWrite()
		if got := xpIntField(t, cons.wait(time.Now().Add(xpChildTimeout)), "count"); got != n {
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
		prod := xpStart(t, "xp-spsc-producer", "path="+path, "ring=sleepy-producer", "seed="+strconv.FormatUint(seed, 10),
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
		prod.wait(time.Now().Add(xpChildTimeout))
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

// TestXProcCloseAndDrain checks end of stream across processes: a consumer
// started after the producer closed and exited drains everything and then
// gets io.EOF; a consumer asleep in Pop with no deadline wakes with io.EOF
// when another process closes the ring; and a producer facing a full ring
// gets ErrClosed, not ErrFull or an endless wait, once another process has
// closed it.
func TestXProcCloseAndDrain(t *testing.T) {
	seed := xpSeed(t)
	a, path := xpArena(t, 1<<20)

	t.Run("drain", func(t *testing.T) {
		const n = 1000
		r, err := CreateSPSC(a, "drain", Config{Slots: 1024, SlotSize: 128})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Detach()
		common := []string{"path=" + path, "ring=drain", "seed=" + strconv.FormatUint(seed, 10), "n=" + strconv.Itoa(n)}
		xpStart(t, "xp-spsc-producer", append(common, "wait=adaptive")...).wait(time.Now().Add(xpChildTimeout))
		if !r.IsClosed() || r.Len() != n {
			t.Fatalf("after the producer exited: IsClosed %v, Len %d; want true, %d", r.IsClosed(), r.Len(), n)
		}
		// mode=trypop: everything must be there already; ErrEmpty fails.
		out := xpStart(t, "xp-spsc-consumer", append(common, "wait=adaptive", "mode=trypop")...).wait(time.Now().Add(xpChildTimeout))
		if got := xpIntField(t, out, "count"); got != n {
			t.Fatalf("consumer drained %d messages, want %d", got, n)
		}
	})

	for _, kind := range []string{"spsc", "mpmc"} {
		t.Run("wake-"+kind, func(t *testing.T) {
			name := "eof-" + kind
			r := xpCreate(t, a, kind, name, Config{Slots: 8, SlotSize: 64})
			defer r.Detach()
			child := xpStart(t, "xp-pop-eof", "path="+path, "ring="+name, "kind="+kind)
			// Sleeps is counted just before the futex wait.
			xpWaitFor(t, "the consumer to sleep", child, func() bool { return r.Stats().Sleeps > 0 })
			time.Sleep(10 * time.Millisecond) // let it reach FUTEX_WAIT
			closed := time.Now()
			if err := r.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			out := child.wait(closed.Add(10 * time.Second))
			woke := time.Unix(0, int64(xpIntField(t, out, "eof_unix_nano")))
			lat := woke.Sub(closed)
			t.Logf("consumer returned io.EOF %v after Close (pop blocked for %sms)", lat, xpField(out, "blocked_ms"))
			if lat > 2*time.Second {
				t.Fatalf("consumer returned io.EOF %v after Close, want < 2s", lat)
			}
		})
	}

	// A producer that filled the ring learns of a Close made by another
	// process: its next pushes fail with ErrClosed rather than ErrFull
	// (mode=after: Close while no push is in flight), and a push asleep on
	// the full ring wakes with ErrClosed (mode=blocked).
	for _, kind := range []string{"spsc", "mpmc"} {
		for _, mode := range []string{"after", "blocked"} {
			t.Run("full-"+mode+"-"+kind, func(t *testing.T) {
				name := "full-" + mode + "-" + kind
				r := xpCreate(t, a, kind, name, Config{Slots: 2, SlotSize: 16})
				defer r.Detach()
				child := xpStart(t, "xp-push-closed", "path="+path, "ring="+name, "kind="+kind, "mode="+mode)
				if mode == "blocked" {
					xpWaitFor(t, "the producer to sleep on the full ring", child, func() bool { return r.Stats().Sleeps > 0 })
					time.Sleep(10 * time.Millisecond) // let it reach FUTEX_WAIT
				} else {
					xpWaitFor(t, "the producer to fill the ring", child, func() bool { return r.Len() == 2 })
				}
				if err := r.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				out := child.wait(time.Now().Add(10 * time.Second))
				t.Logf("child: %s", strings.TrimSpace(out))
				// What was committed before Close is still delivered.
				buf := make([]byte, r.SlotSize())
				for i := 0; i < 2; i++ {
					if n, err := r.TryPop(buf); err != nil || string(buf[:n]) != "m"+strconv.Itoa(i) {
						t.Fatalf("TryPop %d = %q, %v; want %q", i, buf[:n], err, "m"+strconv.Itoa(i))
					}
				}
				if _, err := r.TryPop(buf); err != io.EOF {
					t.Fatalf("TryPop after draining = %v, want io.EOF", err)
				}
			})
		}
	}
}

// TestXProcTimeouts checks in a child process that Pop on an empty ring and
// Push on a full one return context.DeadlineExceeded close to a 50ms
// deadline, for every wait strategy and both kinds of ring.
func TestXProcTimeouts(t *testing.T) {
	a, path := xpArena(t, 1<<20)
	for _, kind := range []string{"spsc", "mpmc"} {
		xpCreate(t, a, kind, kind+"-empty", Config{Slots: 2, SlotSize: 16}).Detach()
		full := xpCreate(t, a, kind, kind+"-full", Config{Slots: 2, SlotSize: 16})
		for i := 0; i < 2; i++ {
			if err := full.TryPush([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		full.Detach()
	}
	out := xpStart(t, "xp-timeouts", "path="+path).wait(time.Now().Add(xpChildTimeout))
	t.Logf("child:\n%s", out)
}

// TestXProcCancel checks in a child process that Pop with a context
// cancelled (not timed out) by another goroutine returns context.Canceled
// promptly for every wait strategy: the blocking strategies must be woken
// from the futex, not wait for their periodic re-check.
func TestXProcCancel(t *testing.T) {
	a, path := xpArena(t, 1<<20)
	for _, kind := range []string{"spsc", "mpmc"} {
		xpCreate(t, a, kind, kind+"-empty", Config{Slots: 2, SlotSize: 16}).Detach()
	}
	out := xpStart(t, "xp-cancel", "path="+path).wait(time.Now().Add(xpChildTimeout))
	t.Logf("child:\n%s", out)
}

// TestTimeouts is TestXProcTimeouts in one process. The upper bound is
// generous because the machine may be shared; the log shows the actual
// overshoot, which should be a few milliseconds at most.
func TestTimeouts(t *testing.T) {
	const slack = 200 * time.Millisecond
	a, _ := xpArena(t, 1<<20)
	for _, kind := range []string{"spsc", "mpmc"} {
		empty := xpCreate(t, a, kind, kind+"-empty", Config{Slots: 2, SlotSize: 16})
		full := xpCreate(t, a, kind, kind+"-full", Config{Slots: 2, SlotSize: 16})
		for i := 0; i < 2; i++ {
			if err := full.TryPush([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		for _, w := range xpWaits {
			for _, op := range []string{"pop", "push"} {
				t.Run(fmt.Sprintf("%s/%s/%s", kind, op, w), func(t *testing.T) {
					r := empty
					if op == "push" {
						r = full
					}
					r.SetWaitStrategy(w)
					el, err := xpTimedOp(r, op)
					t.Logf("returned %v after %v (overshoot %v)", err, el, el-xpTimeout)
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("%s: err = %v, want context.DeadlineExceeded", op, err)
					}
					if el < xpTimeout || el > xpTimeout+slack {
						t.Fatalf("%s returned after %v, want within [%v, %v]", op, el, xpTimeout, xpTimeout+slack)
					}
				})
			}
		}
		if n := empty.Len(); n != 0 {
			t.Errorf("%s: empty ring has Len %d after timed-out pops", kind, n)
		}
		if n := full.Len(); n != 2 {
			t.Errorf("%s: full ring has Len %d after timed-out pushes, want 2", kind, n)
		}
	}
}

// ---------------------------------------------------------------------------
// Child roles.

// xpSPSCProducer pushes n generated messages with Push and, unless
// close=no, closes the ring. Args: path ring seed n wait [close].
func xpSPSCProducer(args []string) error {
	a := xpParse(args)
	ar, r, err := xpOpen(a, "spsc")
	if err != nil {
		return err
	}
	defer ar.Close()
	defer r.Detach()
	ctx, cancel := context.WithTimeout(context.Background(), xpChildTimeout)
	defer cancel()
	n, seed := a.int("n"), a.uint64("seed")
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
func xpSPSCConsumer(args []string) error {
	a := xpParse(args)
	ar, r, err := xpOpen(a, "spsc")
	if err != nil {
		return err
	}
	defer ar.Close()
	defer r.Detach()
	ctx, cancel := context.WithTimeout(context.Background(), xpChildTimeout)
	defer cancel()
	n, seed, mode := a.int("n"), a.uint64("seed"), a["mode"]
	buf := make([]byte, r.SlotSize())
	want := make([]byte, r.SlotSize())
	count := 0
	for ; ; count++ {
		var k int
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

// xpMPMCProducer pushes n messages xpMPMCMsg(id, 0..n-1) and exits without
// closing. Args: path ring seed n id.
func xpMPMCProducer(args []string) error {
	a := xpParse(args)
	ar, r, err := xpOpen(a, "mpmc")
	if err != nil {
		return err
	}
	defer ar.Close()
	defer r.Detach()
	ctx, cancel := context.WithTimeout(context.Background(), xpChildTimeout)
	defer cancel()
	n, seed, id := a.int("n"), a.uint64("seed"), uint32(a.int("id"))
	buf := make([]byte, r.SlotSize())
	for i := 0; i < n; i++ {
		if err := r.Push(ctx, xpMPMCMsg(buf, seed, id, uint64(i), r.SlotSize())); err != nil {
			return fmt.Errorf("push %d: %w", i, err)
		}
	}
	fmt.Printf("pushed=%d\n", n)
	return nil
}

// xpMPMCConsumer pops until io.EOF, checks each message's checksum and
// contents, and appends (producer id, seq) as two little-endian uint32 to
// its log in the order received. Args: path ring seed n producers log.
func xpMPMCConsumer(args []string) error {
	a := xpParse(args)
	ar, r, err := xpOpen(a, "mpmc")
	if err != nil {
		return err
	}
	defer ar.Close()
	defer r.Detach()
	ctx, cancel := context.WithTimeout(context.Background(), xpChildTimeout)
	defer cancel()
	n, seed, producers := uint64(a.int("n")), a.uint64("seed"), uint32(a.int("producers"))
	f, err := os.Create(a["log"])
	if err != nil {
		return err
	}
	defer f.Close()
	log := bufio.NewWriter(f)
	buf := make([]byte, r.SlotSize())
	want := make([]byte, r.SlotSize())
	var rec [8]byte
	count := 0
	for ; ; count++ {
		k, err := r.Pop(ctx, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("message %d: %w", count, err)
		}
		m := buf[:k]
		if k < 16 {
			return fmt.Errorf("message %d: %d bytes, shorter than any sent", count, k)
		}
		if sum, got := crc32.Checksum(m[:k-4], xpCRC), binary.LittleEndian.Uint32(m[k-4:]); sum != got {
			return fmt.Errorf("message %d: checksum %#08x, computed %#08x", count, got, sum)
		}
		id, seq := binary.LittleEndian.Uint32(m), binary.LittleEndian.Uint64(m[4:])
		if id >= producers || seq >= n {
			return fmt.Errorf("message %d: producer %d seq %d out of range", count, id, seq)
		}
		if w := xpMPMCMsg(want, seed, id, seq, r.SlotSize()); !bytes.Equal(m, w) {
			return fmt.Errorf("message %d (producer %d seq %d): %s", count, id, seq, xpDiff(m, w))
		}
		binary.LittleEndian.PutUint32(rec[:], id)
		binary.LittleEndian.PutUint32(rec[4:], uint32(seq))
		if _, err := log.Write(rec[:]); err != nil {
			return err
		}
	}
	if err := log.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("count=%d\n", count)
	return nil
}

// xpPopEOF blocks in Pop with WaitBlock and context.Background() until the
// parent closes the (empty) ring, and reports when it returned. Args: path
// ring kind.
func xpPopEOF(args []string) error {
	a := xpParse(args)
	ar, r, err := xpOpen(a, a["kind"])
	if err != nil {
		return err
	}
	defer ar.Close()
	defer r.Detach()
	r.SetWaitStrategy(WaitBlock)
	buf := make([]byte, r.SlotSize())
	start := time.Now()
	n, err := r.Pop(context.Background(), buf)
	now := time.Now()
	if err != io.EOF {
		return fmt.Errorf("Pop = %d, %v; want io.EOF", n, err)
	}
	// Wall-clock nanoseconds are comparable with the parent's; the
	// monotonic reading is not.
	fmt.Printf("eof_unix_nano=%d blocked_ms=%d\n", now.UnixNano(), now.Sub(start).Milliseconds())
	return nil
}

// xpPushClosed fills the ring (messages "m0", "m1", ...) with a WaitBlock
// handle. With mode=after it waits until the parent has closed the ring
// and checks that every kind of push then fails with ErrClosed; with
// mode=blocked it blocks in Push with no deadline and checks that the
// parent's Close wakes it with ErrClosed. Args: path ring kind mode.
func xpPushClosed(args []string) error {
	a := xpParse(args)
	ar, r, err := xpOpen(a, a["kind"])
	if err != nil {
		return err
	}
	defer ar.Close()
	defer r.Detach()
	r.SetWaitStrategy(WaitBlock)
	for i := 0; ; i++ {
		err := r.TryPush([]byte("m" + strconv.Itoa(i)))
		if err == ErrFull && i == r.Slots() {
			break
		}
		if err != nil || i == r.Slots() {
			return fmt.Errorf("TryPush %d into a ring of %d slots: %v", i, r.Slots(), err)
		}
	}
	if a["mode"] == "blocked" {
		start := time.Now()
		err := r.Push(context.Background(), []byte("late"))
		fmt.Printf("push_blocked_ms=%d\n", time.Since(start).Milliseconds())
		if err != ErrClosed {
			return fmt.Errorf("Push blocked on a full ring that another process closed: %v, want ErrClosed", err)
		}
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for !r.IsClosed() {
		if time.Now().After(deadline) {
			return errors.New("the ring was not closed within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	var errs []error
	if err := r.TryPush([]byte("late")); err != ErrClosed {
		errs = append(errs, fmt.Errorf("TryPush: %v", err))
	}
	if _, err := r.TryPushBatch([][]byte{[]byte("late")}); err != ErrClosed {
		errs = append(errs, fmt.Errorf("TryPushBatch: %v", err))
	}
	if _, err := r.TryReserve(4); err != ErrClosed {
		errs = append(errs, fmt.Errorf("TryReserve: %v", err))
	}
	// Bounded, so that a Push that never notices the Close (and, being
	// always "ready", spins instead of sleeping) fails instead of hanging.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.Push(ctx, []byte("late")); err != ErrClosed {
		errs = append(errs, fmt.Errorf("Push: %v after %v", err, time.Since(start)))
	}
	if _, err := r.PushBatch(ctx, [][]byte{[]byte("late")}); err != ErrClosed {
		errs = append(errs, fmt.Errorf("PushBatch: %v", err))
	}
	if _, err := r.Reserve(ctx, 4); err != ErrClosed {
		errs = append(errs, fmt.Errorf("Reserve: %v", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("pushes on a full ring that another process closed, want ErrClosed: %w", errors.Join(errs...))
	}
	fmt.Println("pushes=ErrClosed")
	return nil
}

// xpTimeouts runs the deadline checks on the rings <kind>-empty and
// <kind>-full for both kinds. Args: path.
func xpTimeouts(args []string) error {
	a := xpParse(args)
	ar, err := arena.Open(a["path"])
	if err != nil {
		return err
	}
	defer ar.Close()
	for _, kind := range []string{"spsc", "mpmc"} {
		for _, op := range []string{"pop", "push"} {
			name := kind + "-empty"
			if op == "push" {
				name = kind + "-full"
			}
			r, err := xpOpenRing(ar, kind, name)
			if err != nil {
				return err
			}
			for _, w := range xpWaits {
				r.SetWaitStrategy(w)
				if err := xpRetry(func(attempt int) (bool, error) {
					el, err := xpTimedOp(r, op)
					fmt.Printf("kind=%s op=%s wait=%s attempt=%d elapsed=%v overshoot=%v err=%q\n", kind, op, w, attempt, el, el-xpTimeout, fmt.Sprint(err))
					if !errors.Is(err, context.DeadlineExceeded) {
						return false, fmt.Errorf("%s %s %s: err = %v, want context.DeadlineExceeded", kind, op, w, err)
					}
					if el < xpTimeout {
						return false, fmt.Errorf("%s %s %s: returned after %v, before its %v deadline", kind, op, w, el, xpTimeout)
					}
					if el > xpTimeout+xpChildSlack {
						return true, fmt.Errorf("%s %s %s: returned after %v, want at most %v", kind, op, w, el, xpTimeout+xpChildSlack)
					}
					return false, nil
				}); err != nil {
					return err
				}
			}
			r.Detach()
		}
	}
	return nil
}

// xpCancel blocks in Pop on <kind>-empty with a context that another
// goroutine cancels after xpCancelAfter. Args: path.
func xpCancel(args []string) error {
	a := xpParse(args)
	ar, err := arena.Open(a["path"])
	if err != nil {
		return err
	}
	defer ar.Close()
	for _, kind := range []string{"spsc", "mpmc"} {
		r, err := xpOpenRing(ar, kind, kind+"-empty")
		if err != nil {
			return err
		}
		buf := make([]byte, r.SlotSize())
		for _, w := range xpWaits {
			r.SetWaitStrategy(w)
			if err := xpRetry(func(attempt int) (bool, error) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				start := time.Now()
				go func() {
					time.Sleep(xpCancelAfter)
					cancel()
				}()
				_, err := r.Pop(ctx, buf)
				el := time.Since(start)
				fmt.Printf("kind=%s wait=%s attempt=%d elapsed=%v overshoot=%v err=%q\n", kind, w, attempt, el, el-xpCancelAfter, fmt.Sprint(err))
				if !errors.Is(err, context.Canceled) {
					return false, fmt.Errorf("%s %s: err = %v, want context.Canceled", kind, w, err)
				}
				if el < xpCancelAfter {
					return false, fmt.Errorf("%s %s: returned after %v, before the %v cancellation", kind, w, el, xpCancelAfter)
				}
				if el > xpCancelAfter+xpCancelSlack {
					return true, fmt.Errorf("%s %s: returned %v after cancellation, want at most %v", kind, w, el-xpCancelAfter, xpCancelSlack)
				}
				return false, nil
			}); err != nil {
				return err
			}
		}
		r.Detach()
	}
	return nil
}

// ---------------------------------------------------------------------------
// Helpers.

// xpTimedOp runs Pop (on an empty ring) or Push (on a full one) with a
// deadline xpTimeout after its start and returns how long it took.
func xpTimedOp(r Ring, op string) (time.Duration, error) {
	buf := make([]byte, r.SlotSize())
	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(xpTimeout))
	defer cancel()
	var err error
	if op == "push" {
		err = r.Push(ctx, []byte("y"))
	} else {
		var n int
		n, err = r.Pop(ctx, buf)
		if err == nil {
			err = fmt.Errorf("popped a message of %d bytes from an empty ring", n)
		}
	}
	return time.Since(start), err
}

// xpRetry runs f up to xpAttempts times while it asks to retry (a timing
// bound missed, which one scheduling delay can cause) and returns its last
// error. Other failures are returned at once.
func xpRetry(f func(attempt int) (retry bool, err error)) error {
	var err error
	for i := 1; i <= xpAttempts; i++ {
		var retry bool
		if retry, err = f(i); err == nil || !retry {
			return err
		}
	}
	return fmt.Errorf("%w (in all %d attempts)", err, xpAttempts)
}

var xpCRC = crc32.MakeTable(crc32.Castagnoli)

// xpMix is splitmix64's finaliser.
func xpMix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// xpFill fills b with a pseudo-random stream seeded by x.
func xpFill(b []byte, x uint64) {
	for len(b) >= 8 {
		x = xpMix(x)
		binary.LittleEndian.PutUint64(b, x)
		b = b[8:]
	}
	x = xpMix(x)
	for i := range b {
		b[i] = byte(x >> (8 * i))
	}
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

// xpMPMCMsg builds message seq of producer id into buf:
// id uint32 | seq uint64 | payload | CRC-32C of everything before it,
// 16..slotSize bytes.
func xpMPMCMsg(buf []byte, seed uint64, id uint32, seq uint64, slotSize int) []byte {
	h := xpMix(seed ^ xpMix(uint64(id)<<40^seq))
	b := buf[:16+h%uint64(slotSize-16+1)]
	binary.LittleEndian.PutUint32(b, id)
	binary.LittleEndian.PutUint64(b[4:], seq)
	xpFill(b[12:len(b)-4], h)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], xpCRC))
	return b
}

// xpDiff describes how got differs from want.
func xpDiff(got, want []byte) string {
	s := fmt.Sprintf("got %d bytes, want %d", len(got), len(want))
	if len(got) >= 8 {
		s += fmt.Sprintf(" (got's first 8 bytes say seq %d)", binary.LittleEndian.Uint64(got))
	}
	for i := 0; i < min(len(got), len(want)); i++ {
		if got[i] != want[i] {
			return s + fmt.Sprintf("; first difference at byte %d: %#02x, want %#02x", i, got[i], want[i])
		}
	}
	return s
}

func xpSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(xpSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", xpSeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (%s=%d repeats this run)", seed, xpSeedEnv, seed)
	return seed
}

// xpArena creates an arena in t.TempDir, closed when the test ends.
func xpArena(t *testing.T, size int64) (*arena.Arena, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "arena")
	a, err := arena.Create(path, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, path
}

func xpCreate(t *testing.T, a *arena.Arena, kind, name string, cfg Config) Ring {
	t.Helper()
	var r Ring
	var err error
	if kind == "mpmc" {
		r, err = CreateMPMC(a, name, cfg)
	} else {
		r, err = CreateSPSC(a, name, cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func xpOpenRing(a *arena.Arena, kind, name string) (Ring, error) {
	switch kind {
	case "spsc":
		return OpenSPSC(a, name)
	case "mpmc":
		return OpenMPMC(a, name)
	}
	return nil, fmt.Errorf("unknown ring kind %q", kind)
}

// xpOpen opens the arena at args[path] and the ring args[ring] of the given
// kind, with the wait strategy args[wait] if given.
func xpOpen(a xpArgs, kind string) (*arena.Arena, Ring, error) {
	ar, err := arena.Open(a["path"])
	if err != nil {
		return nil, nil, err
	}
	r, err := xpOpenRing(ar, kind, a["ring"])
	if err != nil {
		ar.Close()
		return nil, nil, err
	}
	if s, ok := a["wait"]; ok {
		w, err := ParseWaitStrategy(s)
		if err != nil {
			ar.Close()
			return nil, nil, err
		}
		r.SetWaitStrategy(w)
	}
	return ar, r, nil
}

// xpArgs are a child's key=value arguments. The parent builds them, so a
// malformed one is a bug in the test and panics.
type xpArgs map[string]string

func xpParse(args []string) xpArgs {
	m := xpArgs{}
	for _, s := range args {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			panic("xproc argument without '=': " + s)
		}
		m[k] = v
	}
	return m
}

func (a xpArgs) uint64(k string) uint64 {
	v, err := strconv.ParseUint(a[k], 10, 64)
	if err != nil {
		panic(fmt.Sprintf("xproc argument %s: %v", k, err))
	}
	return v
}

func (a xpArgs) int(k string) int { return int(a.uint64(k)) }

// xpField returns the value of the last key=value token named key in out.
func xpField(out, key string) string {
	val := ""
	for _, tok := range strings.Fields(out) {
		if k, v, ok := strings.Cut(tok, "="); ok && k == key {
			val = v
		}
	}
	return val
}

func xpIntField(t *testing.T, out, key string) int {
	t.Helper()
	v, err := strconv.Atoi(xpField(out, key))
	if err != nil {
		t.Fatalf("child output has no integer %s: %v\n%s", key, err, out)
	}
	return v
}

// xpChild is a child process started by xpStart.
type xpChild struct {
	t      *testing.T
	role   string
	args   []string
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	exited chan struct{} // closed when cmd.Wait has returned
	err    error         // cmd.Wait's result, valid once exited is closed
}

// xpStart starts role in a child process. The child is killed at the end
// of the test if nobody waited for it.
func xpStart(t *testing.T, role string, args ...string) *xpChild {
	t.Helper()
	c := &xpChild{t: t, role: role, args: args, exited: make(chan struct{})}
	c.cmd = xproc.Command(t, role, args...)
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	// Under -race a process sleeps a second at exit (atexit_sleep_ms) so
	// that racing goroutines can still report; our children have finished
	// their work by then, and a dozen of them would add a dozen seconds.
	c.cmd.Env = append(c.cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", role, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

func (c *xpChild) done() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// wait waits until deadline for the child to exit and returns its stdout;
// see xpWait.
func (c *xpChild) wait(deadline time.Time) string {
	c.t.Helper()
	xpWait(c.t, deadline, []*xpChild{c}, nil)
	return c.stdout.String()
}

// xpWait waits until every child in want has exited. It fails the test at
// once if a child in want or watch exits unsuccessfully (so a failed
// consumer does not leave us waiting for the producer it blocked), and
// kills them all and fails if deadline passes first.
func xpWait(t *testing.T, deadline time.Time, want, watch []*xpChild) {
	t.Helper()
	for {
		all := true
		for _, c := range append(want[:len(want):len(want)], watch...) {
			if !c.done() {
				continue
			}
			if c.err != nil {
				t.Fatalf("child %s %v: %v\nstderr:\n%s\nstdout:\n%s", c.role, c.args, c.err, &c.stderr, &c.stdout)
			}
		}
		for _, c := range want {
			all = all && c.done()
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			var msg strings.Builder
			for _, c := range want {
				if !c.done() {
					_ = c.cmd.Process.Kill()
					<-c.exited
					fmt.Fprintf(&msg, "\nchild %s %v still running at its deadline; killed\nstderr:\n%s\nstdout:\n%s", c.role, c.args, &c.stderr, &c.stdout)
				}
			}
			t.Fatal(msg.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// xpWaitFor polls cond until it holds, failing the test if child exits
// first or 10 seconds pass.
func xpWaitFor(t *testing.T, what string, child *xpChild, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if child.done() {
			t.Fatalf("child %s exited while we waited for %s: %v\nstderr:\n%s", child.role, what, child.err, &child.stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
