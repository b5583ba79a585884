package ctest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// Record rings between a Go and a C peer. Two layouts: a ring created in
// an arena (mirrored on Linux: the data area is mapped twice, and records
// cross its end), and a ring initialised over an arena region's bytes
// with ring.NewRecords (not mirrored: padding records at the wrap), which
// a C peer opens by name like any other. The capacities are not powers of
// two (5 and 3 pages), so positions run modulo M = Capacity*2^k.
//
// Lengths run 0 .. SlotSize (CTOOL_FULLLEN=1 on the C side, recLen here),
// both sides of the 2048-byte inline-commit bound; the C producer also
// pushes batches and holds two reservations at once, the C consumer also
// pipelines two peeks, and the Go peers do the same with their calls.

const (
	recN     = 30000
	recPause = 5000
)

type recCase struct {
	name     string
	cfg      ring.Config
	mirrored bool
}

var recCases = []recCase{
	{"Mirrored", ring.Config{Capacity: 5 * 4096, SlotSize: 4000}, true},
	{"Padding", ring.Config{Capacity: 3 * 4096, SlotSize: 3000}, false},
}

// recLen and fillRec are ctool's CTOOL_FULLLEN messages: length
// (s*7919 + p*13) % (SlotSize+1); a message shorter than 12 bytes is
// payload only.
func recLen(s uint64, p uint32, slotSize int) int {
	return int((s*7919 + uint64(p)*13) % uint64(slotSize+1))
}

func fillRec(b []byte, p uint32, s uint64) []byte {
	i := 0
	if len(b) >= 12 {
		binary.LittleEndian.PutUint32(b, p)
		binary.LittleEndian.PutUint64(b[4:], s)
		i = 12
	}
	for ; i < len(b); i++ {
		b[i] = byte(s*31 + uint64(i) + uint64(p))
	}
	return b
}

// recChecker checks one producer's full-length stream: every message in
// order, intact, none lost.
type recChecker struct {
	ss                 int
	next               uint64
	got, bytes, sum    uint64
	zero, big, crossed uint64
}

func (c *recChecker) check(m []byte) error {
	want := fillRec(make([]byte, recLen(c.next, 0, c.ss)), 0, c.next)
	if !bytes.Equal(m, want) {
		return fmt.Errorf("message %d: %d bytes, want %d (or bad content)", c.next, len(m), len(want))
	}
	c.next++
	c.got++
	c.bytes += uint64(len(m))
	c.sum = sumMsg(c.sum, m)
	if len(m) == 0 {
		c.zero++
	}
	if len(m) > 2048 {
		c.big++
	}
	return nil
}

// newRecords makes ring "r" of case rc in a new arena: created in the
// arena (mirrored), or over a region's bytes (padding records).
func newRecords(t *testing.T, rc recCase) (string, *arena.Arena, *ring.Records) {
	t.Helper()
	path, a := newArena(t, ring.KindRecords, rc.cfg)
	var r *ring.Records
	var err error
	if rc.mirrored {
		r, err = ring.CreateRecords(a, "r", rc.cfg)
	} else {
		var size int64
		if size, err = ring.Size(ring.KindRecords, rc.cfg, a.PadUnit()); err != nil {
			t.Fatal(err)
		}
		var reg *arena.Region
		if reg, err = a.AllocKind("r", ring.KindRecords, size, 4096); err != nil {
			t.Fatal(err)
		}
		r, err = ring.NewRecords(reg.Bytes(), rc.cfg, a.PadUnit())
	}
	if err != nil {
		t.Fatal(err)
	}
	if r.Mirrored() != rc.mirrored {
		t.Fatalf("ring mirrored %v, want %v", r.Mirrored(), rc.mirrored)
	}
	t.Cleanup(func() { _ = r.Close() })
	return path, a, r
}

// goProduceRecs pushes n full-length messages through r: every 3rd by
// Reserve/Commit, every 7th starting a PushBatch of 3, the rest by Push,
// pausing every pauseEvery messages.
func goProduceRecs(ctx context.Context, r *ring.Records, n uint64, pauseEvery uint64) (uint64, uint64, error) {
	ss := r.SlotSize()
	var sent, sum uint64
	bufs := make([][]byte, 3)
	for i := range bufs {
		bufs[i] = make([]byte, ss)
	}
	for s := uint64(0); s < n; {
		k := uint64(1)
		switch {
		case s%7 == 0 && s+3 <= n:
			k = 3
			msgs := make([][]byte, k)
			for i := range msgs {
				msgs[i] = fillRec(bufs[i][:recLen(s+uint64(i), 0, ss)], 0, s+uint64(i))
			}
			if _, err := r.PushBatch(ctx, msgs); err != nil {
				return sent, sum, fmt.Errorf("push batch at %d: %w", s, err)
			}
			for _, m := range msgs {
				sent += uint64(len(m))
				sum = sumMsg(sum, m)
			}
		case s%3 == 2:
			n := recLen(s, 0, ss)
			res, err := r.Reserve(ctx, n)
			if err != nil {
				return sent, sum, fmt.Errorf("reserve %d: %w", s, err)
			}
			m := fillRec(res.Buf[:n], 0, s)
			if err := r.Commit(res, n); err != nil {
				return sent, sum, fmt.Errorf("commit %d: %w", s, err)
			}
			sent += uint64(n)
			sum = sumMsg(sum, m)
		default:
			m := fillRec(bufs[0][:recLen(s, 0, ss)], 0, s)
			if err := r.Push(ctx, m); err != nil {
				return sent, sum, fmt.Errorf("push %d: %w", s, err)
			}
			sent += uint64(len(m))
			sum = sumMsg(sum, m)
		}
		if pauseEvery != 0 && (s+k)/pauseEvery != s/pauseEvery {
			time.Sleep(20 * time.Millisecond)
		}
		s += k
	}
	return sent, sum, nil
}

// goConsumeRecs pops until EOF: every 5th by Peek, with a second TryPeek
// outstanding beside it now and then (released in order).
func goConsumeRecs(ctx context.Context, r *ring.Records, c *recChecker, pauseEvery uint64) error {
	buf := make([]byte, r.SlotSize())
	for {
		if c.got%5 == 4 {
			m, err := r.Peek(ctx)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := c.check(m.Data); err != nil {
				return err
			}
			if c.got%3 == 0 {
				if m2, err := r.TryPeek(); err == nil {
					if err := c.check(m2.Data); err != nil {
						return err
					}
					if err := r.Release(m2); !errors.Is(err, ring.ErrNotReserved) {
						return fmt.Errorf("release of the newer peek first: %v, want ErrNotReserved", err)
					}
					if err := r.Release(m); err != nil {
						return err
					}
					if err := r.Release(m2); err != nil {
						return err
					}
					continue
				}
			}
			if err := r.Release(m); err != nil {
				return err
			}
		} else {
			n, err := r.Pop(ctx, buf)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := c.check(buf[:n]); err != nil {
				return err
			}
		}
		if pauseEvery != 0 && c.got%pauseEvery == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestRecordsGoToC(t *testing.T) {
	for _, rc := range recCases {
		t.Run(rc.name, func(t *testing.T) { recGoToC(t, ctool(t, false), rc, recN) })
	}
}

func recGoToC(t *testing.T, tool string, rc recCase, n uint64) {
	t.Setenv("CTOOL_FULLLEN", "1")
	path, _, r := newRecords(t, rc)
	cons := startC(t, tool, "consume", path, "r", "1")
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	sent, sum, err := goProduceRecs(ctx, r, n, recPause)
	if err != nil {
		t.Fatalf("%v (C consumer: %s)", err, cons.errb.String())
	}
	if err := r.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	out := cons.wait(t)
	if got := field(t, out, "got"); got != n {
		t.Fatalf("C consumer got %d records, want %d", got, n)
	}
	if b, s := field(t, out, "bytes"), field(t, out, "sum"); b != sent || s != sum {
		t.Fatalf("C consumer: bytes %d sum %d, Go sent bytes %d sum %d", b, s, sent, sum)
	}
	if m := field(t, out, "mirrored"); (m == 1) != rc.mirrored {
		t.Fatalf("C side mirrored=%d, Go side %v", m, rc.mirrored)
	}
	if field(t, out, "pipelined") == 0 {
		t.Errorf("the C consumer never had two peeks outstanding")
	}
	st := r.Stats()
	if st.MsgsIn != n || st.MsgsOut != n || st.BytesIn != sent || st.BytesOut != sent || st.Len != 0 || !st.Closed {
		t.Fatalf("Go Stats after C consumption: %+v, want %d records of %d bytes in and out", st, n, sent)
	}
	if field(t, out, "msgs_out") != n {
		t.Fatalf("C Stats msgs_out %d, want %d", field(t, out, "msgs_out"), n)
	}
	if field(t, out, "sleeps") == 0 {
		t.Errorf("the C consumer never slept (pauses every %d records should make it)", recPause)
	}
	if st.Wakes == 0 {
		t.Errorf("no futex wake counted: the Go producer never woke the sleeping C consumer")
	}
	t.Logf("Go->C %d records, %d bytes; stats %+v", n, sent, st)
}

func TestRecordsCToGo(t *testing.T) {
	for _, rc := range recCases {
		t.Run(rc.name, func(t *testing.T) { recCToGo(t, ctool(t, false), rc, recN) })
	}
}

func recCToGo(t *testing.T, tool string, rc recCase, n uint64) {
	t.Setenv("CTOOL_FULLLEN", "1")
	path, a, r := newRecords(t, rc)
	prod := startC(t, tool, "produce", path, "r", fmt.Sprint(n), "0", "1", fmt.Sprint(recPause), "20")
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	c := &recChecker{ss: rc.cfg.SlotSize}
	// The Go consumer pauses too, so that the C producer blocks on a full
	// ring and sleeps.
	if err := goConsumeRecs(ctx, r, c, recPause+recPause/2); err != nil {
		t.Fatalf("after %d records: %v (C producer: %s)", c.got, err, prod.errb.String())
	}
	out := prod.wait(t)
	if c.got != n || c.bytes != field(t, out, "bytes") {
		t.Fatalf("Go consumer got %d records %d bytes; C sent %s", c.got, c.bytes, out)
	}
	if field(t, out, "doubles") == 0 {
		t.Errorf("the C producer never held two reservations at once")
	}
	if c.zero == 0 || c.big == 0 {
		t.Fatalf("lengths: %d empty, %d above 2048 bytes: both should occur", c.zero, c.big)
	}
	if m := field(t, out, "mirrored"); (m == 1) != rc.mirrored {
		t.Fatalf("C side mirrored=%d, Go side %v", m, rc.mirrored)
	}
	st := r.Stats()
	if st.MsgsIn != n || st.BytesIn != c.bytes || st.MsgsOut != n || !st.Closed || st.Skipped != 0 {
		t.Fatalf("Go Stats after C production: %+v, want MsgsIn %d BytesIn %d Closed", st, n, c.bytes)
	}
	if st.Sleeps == 0 || st.Wakes == 0 {
		t.Errorf("Sleeps %d Wakes %d: the pauses should have put both sides to sleep", st.Sleeps, st.Wakes)
	}
	if field(t, out, "sleeps") == 0 {
		t.Errorf("the C producer never slept on a full ring")
	}
	// The C producer's entry (released: PID 0), at docs/ring.md's offsets.
	e := rawEntry(t, a, field(t, out, "peer"))
	if e.msgsIn != n || e.bytesIn != c.bytes || e.pid != 0 || e.gen == 0 || e.roles != 1 {
		t.Errorf("C producer's entry: %+v, want MsgsIn %d BytesIn %d, PID 0 (released), Roles 1", e, n, c.bytes)
	}
	t.Logf("C->Go %d records, %d bytes; stats %+v", n, c.bytes, st)
}

// TestRecordsMixed: C producers and a Go producer at once into one
// mirrored ring (messages of 12 .. SlotSize bytes naming their producer),
// drained by a Go or a C consumer: exactly once, per-producer FIFO.
func TestRecordsMixed(t *testing.T) {
	tool := ctool(t, false)
	cfg := ring.Config{Capacity: 4 * 4096, SlotSize: 2500}
	for _, consumer := range []string{"Go", "C"} {
		t.Run(consumer+"Consumer", func(t *testing.T) {
			const n = 15000
			path, a, r := newRecords(t, recCase{cfg: cfg, mirrored: true})
			ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
			defer cancel()
			var cons *cproc
			c := &checker{next: make([]uint64, 3), slotSize: cfg.SlotSize}
			cerr := make(chan error, 1)
			if consumer == "C" {
				cons = startC(t, tool, "consume", path, "r", "3")
			} else {
				go func() { cerr <- goConsume(ctx, r, c, 0) }()
			}
			p0 := startC(t, tool, "produce", path, "r", fmt.Sprint(n), "0", "0")
			p1 := startC(t, tool, "produce", path, "r", fmt.Sprint(n), "1", "0")
			gp, err := ring.OpenRecords(a, "r")
			if err != nil {
				t.Fatal(err)
			}
			defer gp.Close()
			if _, _, err := goProduce(ctx, gp, 2, n, 0); err != nil {
				if cons != nil {
					cons.kill()
					t.Fatalf("%v; C consumer: %s %s", err, cons.out.String(), cons.errb.String())
				}
				t.Fatal(err)
			}
			if consumer == "Go" {
				select {
				case err := <-cerr:
					t.Fatalf("Go consumer ended early after %d records: %v", c.got, err)
				case <-p0.done:
				}
			}
			p0.wait(t)
			p1.wait(t)
			if err := r.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			var got uint64
			if consumer == "C" {
				got = field(t, cons.wait(t), "got")
			} else {
				if err := <-cerr; err != nil {
					t.Fatalf("Go consumer after %d: %v", c.got, err)
				}
				got = c.got
			}
			if got != 3*n {
				t.Fatalf("consumer got %d, want %d (Go consumer: next %v; stats %+v)", got, 3*n, c.next, r.Stats())
			}
			st := r.Stats()
			if st.MsgsIn != 3*n || st.MsgsOut != 3*n || st.Skipped != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestRecordsKilledCProducer: the C producer dies holding a reservation
// (a busy record); the Go consumer, stuck at it, finds its owner dead
// after the grace, makes it a skip record (Stats.Skipped) and goes on to
// what a Go producer pushes after.
func TestRecordsKilledCProducer(t *testing.T) {
	tool := ctool(t, false)
	const k, m = 1000, 2000
	cfg := ring.Config{Capacity: 4 * 4096, SlotSize: 1000}
	path, a, r := newRecords(t, recCase{cfg: cfg, mirrored: true})
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	c := &checker{next: make([]uint64, 2), slotSize: cfg.SlotSize}
	cerr := make(chan error, 1)
	go func() { cerr <- goConsume(ctx, r, c, 0) }()
	prod := startC(t, tool, "produce", path, "r", fmt.Sprint(k+10), "0", "0", "0", "0", fmt.Sprint(k))
	prod.waitOutput(t, "holding")
	prod.kill()
	p2, err := ring.OpenRecords(a, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if _, _, err := goProduce(ctx, p2, 1, m, 0); err != nil {
		t.Fatal(err)
	}
	if err := p2.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := <-cerr; err != nil {
		t.Fatalf("Go consumer after %d records: %v", c.got, err)
	}
	if c.got != k+m || c.next[0] != k || c.next[1] != m {
		t.Fatalf("got %d (producer 0 up to %d, producer 1 up to %d), want %d", c.got, c.next[0], c.next[1], k+m)
	}
	if st := r.Stats(); st.Skipped != 1 || st.MsgsIn != k+m {
		t.Fatalf("Stats %+v: want Skipped 1 (the dead C reservation), MsgsIn %d", st, k+m)
	}
}

// TestRecordsKilledGoProducer: a Go producer (a child process) dies
// holding a reservation; the C consumer repairs it into a skip record and
// drains what a C producer pushes after it.
func TestRecordsKilledGoProducer(t *testing.T) {
	tool := ctool(t, false)
	const k, m = 500, 2000
	cfg := ring.Config{Capacity: 4 * 4096, SlotSize: 1000}
	path, _, r := newRecords(t, recCase{cfg: cfg, mirrored: true})
	cons := startC(t, tool, "consume", path, "r", "2")
	child := xproc.StartT(t, "go-hold", "path="+path, fmt.Sprintf("n=%d", k))
	xproc.WaitFor(t, "go-hold holding", child, func() bool { return strings.Contains(child.Stdout(), "holding") })
	child.Kill()
	prod := startC(t, tool, "produce", path, "r", fmt.Sprint(m), "1", "1")
	prod.wait(t)
	out := cons.wait(t)
	if got := field(t, out, "got"); got != k+m {
		t.Fatalf("C consumer got %d, want %d", got, k+m)
	}
	if sk := field(t, out, "skipped"); sk != 1 {
		t.Fatalf("C Stats skipped %d, want 1 (the dead Go reservation)", sk)
	}
	if st := r.Stats(); st.Skipped != 1 || st.MsgsOut != k+m {
		t.Fatalf("Go Stats: %+v", st)
	}
}

// TestRecordsKilledLockHolder: a C producer dies inside the claim section
// (its tag left in ClaimLock); a Go producer waits out the lock spin,
// finds the holder dead and takes the lock over, and the stream goes on.
func TestRecordsKilledLockHolder(t *testing.T) {
	tool := ctool(t, false)
	const m = 2000
	cfg := ring.Config{Capacity: 4 * 4096, SlotSize: 1000}
	path, a, r := newRecords(t, recCase{cfg: cfg, mirrored: true})
	hold := startC(t, tool, "holdlock", path, "r")
	hold.waitOutput(t, "holding")
	tag := field(t, hold.out.String(), "tag")
	lock := claimLock(t, a)
	if v := atomic.LoadUint32(lock); uint64(v) != tag || v == 0 {
		t.Fatalf("ClaimLock %#x, want the C handle's tag %#x", v, tag)
	}
	hold.kill()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	c := &checker{next: make([]uint64, 2), slotSize: cfg.SlotSize}
	cerr := make(chan error, 1)
	go func() { cerr <- goConsume(ctx, r, c, 0) }()
	p, err := ring.OpenRecords(a, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := goProduce(ctx, p, 1, m, 0); err != nil {
		t.Fatalf("Go producer behind the dead holder's lock: %v", err)
	}
	if v := atomic.LoadUint32(lock); v != 0 {
		t.Fatalf("ClaimLock %#x after the pushes, want 0", v)
	}
	if err := p.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := <-cerr; err != nil {
		t.Fatal(err)
	}
	if c.got != m+1 || c.next[0] != 1 {
		t.Fatalf("got %d (the C record: %d), want %d", c.got, c.next[0], m+1)
	}
}

// claimLock is ring "r"'s recordProd.ClaimLock: ProdOffset (header offset
// 40) + 16 (docs/ring.md recordProd).
func claimLock(t *testing.T, a *arena.Arena) *uint32 {
	t.Helper()
	reg, err := a.Lookup("r")
	if err != nil {
		t.Fatal(err)
	}
	mem := reg.Bytes()
	off := binary.LittleEndian.Uint64(mem[40:]) + 16
	return (*uint32)(unsafe.Pointer(&mem[off]))
}

// Throughput of the C side (issue 15 asks it beside Go-to-Go): records of
// 12..64 bytes (mean 38) through a 1 MiB mirrored ring, C producer to Go
// consumer and Go producer to C consumer, b.N records, the C process's
// start included (small against b.N in the millions). Run with
//
//	go test -run '^$' -bench Records -benchtime 2000000x ./internal/ctest/
//
// BenchmarkRecordsGoToGo is the Go baseline in the same run (one process).
// The C consumer checks every message (memcmp and a running sum), as the
// Go consumers here do not.
var benchCfg = ring.Config{Capacity: 1 << 20, SlotSize: 64}

func BenchmarkRecordsCToGo(b *testing.B) {
	tool := ctool(b, false)
	b.Setenv("CTOOL_PLAIN", "1")
	path, _, r := benchRecords(b)
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	buf := make([]byte, benchCfg.SlotSize)
	b.ResetTimer()
	start := time.Now()
	prod := startC(b, tool, "produce", path, "r", fmt.Sprint(b.N), "0", "1")
	var n, nbytes int
	for {
		k, err := r.Pop(ctx, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
		nbytes += k
	}
	el := time.Since(start)
	b.StopTimer()
	<-prod.done
	if prod.err != nil || n != b.N {
		b.Fatalf("got %d of %d; C producer: %v %s", n, b.N, prod.err, prod.errb.String())
	}
	b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(nbytes)/el.Seconds()/1e6, "MB/s")
}

func BenchmarkRecordsGoToC(b *testing.B) {
	tool := ctool(b, false)
	b.Setenv("CTOOL_PLAIN", "1")
	path, _, r := benchRecords(b)
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cons := startC(b, tool, "consume", path, "r", "1")
	ss := benchCfg.SlotSize
	buf := make([]byte, ss)
	b.ResetTimer()
	start := time.Now()
	for s := 0; s < b.N; s++ {
		m := fillMsg(buf[:msgLen(uint64(s), 0, ss)], 0, uint64(s))
		if err := r.Push(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.CloseWrite(); err != nil {
		b.Fatal(err)
	}
	<-cons.done
	el := time.Since(start)
	b.StopTimer()
	if cons.err != nil {
		b.Fatalf("C consumer: %v %s", cons.err, cons.errb.String())
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
}

func benchRecords(b *testing.B) (string, *arena.Arena, *ring.Records) {
	b.Helper()
	size, err := ring.ArenaSize([]ring.Spec{{Kind: ring.KindRecords, Config: benchCfg}})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "arena")
	a, err := arena.Create(path, size)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	r, err := ring.CreateRecords(a, "r", benchCfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	return path, a, r
}

// BenchmarkRecordsGoToGo is the baseline beside the two above: the same
// ring and messages, a Go producer goroutine and a Go consumer in one
// process.
func BenchmarkRecordsGoToGo(b *testing.B) {
	_, a, r := benchRecords(b)
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	p, err := ring.OpenRecords(a, "r")
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ss := benchCfg.SlotSize
	b.ResetTimer()
	start := time.Now()
	perr := make(chan error, 1)
	go func() {
		buf := make([]byte, ss)
		for s := 0; s < b.N; s++ {
			if err := p.Push(ctx, fillMsg(buf[:msgLen(uint64(s), 0, ss)], 0, uint64(s))); err != nil {
				perr <- err
				return
			}
		}
		perr <- p.CloseWrite()
	}()
	buf := make([]byte, ss)
	n := 0
	for {
		_, err := r.Pop(ctx, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	el := time.Since(start)
	b.StopTimer()
	if err := <-perr; err != nil || n != b.N {
		b.Fatalf("got %d of %d: %v", n, b.N, err)
	}
	b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
}
