package ring

// Cross-process tests of the record ring (records.go): exactly-once,
// per-producer order and checksums with producer and consumer processes
// mixing every producing and consuming call; and a record that crosses the
// end of the (mirrored) data area, at every 16-byte alignment, written in
// one process and read in another. Crash tests are in
// records_crash_test.go.
//
// Arenas live in /dev/shm (the temp dir where there is none); every wait
// is bounded by xpChildTimeout or less.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
)

func init() {
	roles["xp-rec-producer"] = xpRecRole(xpRecProducer)
	roles["xp-rec-consumer"] = xpRecRole(xpRecConsumer)
	roles["xp-rec-wrap"] = xpRecRole(xpRecWrap)
}

// xpRecArena creates an arena file in /dev/shm holding the record ring
// "rec" of cfg, removed when the test ends, and returns the ring and the
// file's path for children.
func xpRecArena(t *testing.T, cfg Config) (*arena.Arena, string, *Records) {
	t.Helper()
	dir := "/dev/shm"
	if _, err := os.Stat(dir); err != nil {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("shmring-recxp-%d-%d", os.Getpid(), recArenaSeq.Add(1)))
	size, err := ArenaSize([]Spec{{Kind: KindRecords, Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := arena.Create(path, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); os.Remove(path) })
	r, err := CreateRecords(a, "rec", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return a, path, r
}

// xpRecRole makes a child role of body: it opens the arena at args[path]
// and the record ring "rec" in it, sets the wait strategy args[wait] if
// given, and runs body with a context bounded by xpChildTimeout.
func xpRecRole(body func(ctx context.Context, a xproc.Args, r *Records) error) xproc.Role {
	return func(args []string) error {
		a := xproc.ParseArgs(args)
		ar, err := arena.Open(a["path"])
		if err != nil {
			return err
		}
		defer ar.Close()
		r, err := OpenRecords(ar, "rec")
		if err != nil {
			return err
		}
		defer r.Close()
		if s, ok := a["wait"]; ok {
			w, err := ParseWaitStrategy(s)
			if err != nil {
				return err
			}
			r.SetWaitStrategy(w)
		}
		ctx, cancel := context.WithTimeout(context.Background(), xpChildTimeout)
		defer cancel()
		return body(ctx, a, r)
	}
}

// recXPBlock is the payload source of xpRecMsg: a window of it at an
// offset derived from the message (a copy, cheap under -race, where a
// byte-by-byte generator of 256 KiB messages is not).
type recXPBlock []byte

func newRecXPBlock(seed uint64, maxLen int) recXPBlock {
	b := make([]byte, 2*maxLen+64)
	xpFill(b, seed)
	return b
}

// recXPLen is the length of message seq of producer id: 0 .. maxLen,
// mostly short, one in eight anywhere up to maxLen, exactly 0 and exactly
// maxLen now and then. Only producer 0 sends messages shorter than 16
// bytes (which cannot carry an id): the consumer attributes those to it.
func recXPLen(seed uint64, id uint32, seq uint64, maxLen int) int {
	h := xpMix(seed ^ xpMix(uint64(id)<<40^seq^0x5eed))
	var n int
	switch h % 16 {
	case 0:
		n = 0
	case 1:
		n = maxLen
	case 2, 3:
		n = int((h >> 8) % uint64(maxLen+1))
	default:
		n = int((h >> 8) % uint64(min(maxLen, 600)+1))
	}
	if id != 0 && n < 16 {
		n = 16
	}
	return n
}

// xpRecMsg builds message seq of producer id into buf[:recXPLen(...)]: for
// 16 bytes or more, id uint32 | seq uint32 | a window of blk | CRC-32C of
// the bytes before it; a shorter one is a window of blk alone.
func xpRecMsg(buf []byte, blk recXPBlock, seed uint64, id uint32, seq uint64, maxLen int) []byte {
	n := recXPLen(seed, id, seq, maxLen)
	b := buf[:n]
	off := int(xpMix(seed^uint64(id)<<32^seq) % uint64(len(blk)-n))
	if n < 16 {
		copy(b, blk[off:])
		return b
	}
	binary.LittleEndian.PutUint32(b, id)
	binary.LittleEndian.PutUint32(b[4:], uint32(seq))
	copy(b[8:n-4], blk[off:])
	binary.LittleEndian.PutUint32(b[n-4:], crc32.Checksum(b[:n-4], xpCRC))
	return b
}

// recXPCheck checks a received message against what each producer should
// send next (next[id]) and advances that producer.
func recXPCheck(m []byte, next []uint64, scratch []byte, blk recXPBlock, seed, n uint64, maxLen int) error {
	if len(m) < 16 {
		// Only producer 0 sends these.
		if next[0] >= n {
			return fmt.Errorf("a %d-byte message after producer 0's last", len(m))
		}
		if w := xpRecMsg(scratch, blk, seed, 0, next[0], maxLen); !bytes.Equal(m, w) {
			return fmt.Errorf("a %d-byte message, producer 0 seq %d expected: %s", len(m), next[0], xpDiff(m, w))
		}
		next[0]++
		return nil
	}
	k := len(m)
	if sum, got := crc32.Checksum(m[:k-4], xpCRC), binary.LittleEndian.Uint32(m[k-4:]); sum != got {
		return fmt.Errorf("%d-byte message: checksum %#08x, computed %#08x", k, got, sum)
	}
	id, seq := binary.LittleEndian.Uint32(m), uint64(binary.LittleEndian.Uint32(m[4:]))
	if int(id) >= len(next) {
		return fmt.Errorf("message from producer %d of %d", id, len(next))
	}
	if seq != next[id] {
		return fmt.Errorf("producer %d seq %d, expected seq %d (a gap, duplicate or reordering)", id, seq, next[id])
	}
	if want := recXPLen(seed, id, seq, maxLen); k != want {
		return fmt.Errorf("producer %d seq %d: %d bytes, sent %d", id, seq, k, want)
	}
	next[id]++
	return nil
}

// xpRecProducer sends n messages xpRecMsg(id, 0..n-1), mixing TryPush
// (Push when full), Push, PushBatch and groups of up to three outstanding
// reservations committed in a random order. Args: path seed n id [wait].
func xpRecProducer(ctx context.Context, a xproc.Args, r *Records) error {
	n, seed, id := a.Uint64("n"), a.Uint64("seed"), uint32(a.Int("id"))
	maxLen := r.SlotSize()
	blk := newRecXPBlock(seed, maxLen)
	rng := rand.New(rand.NewPCG(seed, uint64(id)+1))
	bufs := make([][]byte, 6)
	for i := range bufs {
		bufs[i] = make([]byte, maxLen)
	}
	var ops [4]int
	multi := 0 // reservation groups with more than one outstanding
	for seq := uint64(0); seq < n; {
		op := rng.IntN(4)
		ops[op]++
		switch op {
		case 0: // TryPush, Push when full
			msg := xpRecMsg(bufs[0], blk, seed, id, seq, maxLen)
			err := r.TryPush(msg)
			if err == ErrFull {
				err = r.Push(ctx, msg)
			}
			if err != nil {
				return fmt.Errorf("push seq %d (%d bytes): %w", seq, len(msg), err)
			}
			seq++
		case 1: // Push
			msg := xpRecMsg(bufs[0], blk, seed, id, seq, maxLen)
			if err := r.Push(ctx, msg); err != nil {
				return fmt.Errorf("push seq %d (%d bytes): %w", seq, len(msg), err)
			}
			seq++
		case 2: // PushBatch
			k := min(1+rng.IntN(len(bufs)), int(n-seq))
			msgs := make([][]byte, k)
			for i := range msgs {
				msgs[i] = xpRecMsg(bufs[i], blk, seed, id, seq+uint64(i), maxLen)
			}
			if got, err := r.PushBatch(ctx, msgs); err != nil || got != k {
				return fmt.Errorf("push batch of %d from seq %d: %d, %w", k, seq, got, err)
			}
			seq += uint64(k)
		case 3: // 1-3 reservations, the first blocking, committed in any order
			k := min(1+rng.IntN(3), int(n-seq))
			type held struct {
				res Reservation
				n   int
				seq uint64
			}
			var hs []held
			for i := 0; i < k; i++ {
				ln := recXPLen(seed, id, seq, maxLen)
				ask := min(ln+rng.IntN(16), maxLen) // may reserve more than it commits
				var res Reservation
				var err error
				if i == 0 {
					res, err = r.Reserve(ctx, ask)
				} else {
					// Holding a reservation, a blocking Reserve could wait
					// for room our own reservation holds back.
					res, err = r.TryReserve(ask)
					if err == ErrFull {
						break
					}
				}
				if err != nil {
					return fmt.Errorf("reserve %d bytes for seq %d: %w", ask, seq, err)
				}
				if len(res.Buf) != ask || cap(res.Buf) < ask {
					return fmt.Errorf("reserve %d bytes: Buf of len %d cap %d", ask, len(res.Buf), cap(res.Buf))
				}
				xpRecMsg(res.Buf, blk, seed, id, seq, maxLen)
				hs = append(hs, held{res, ln, seq})
				seq++
			}
			if len(hs) > 1 {
				multi++
			}
			for _, i := range rng.Perm(len(hs)) {
				if err := r.Commit(hs[i].res, hs[i].n); err != nil {
					return fmt.Errorf("commit seq %d (%d bytes): %w", hs[i].seq, hs[i].n, err)
				}
			}
		}
	}
	fmt.Printf("pushed=%d ops=%d,%d,%d,%d multi=%d\n", n, ops[0], ops[1], ops[2], ops[3], multi)
	return nil
}

// xpRecConsumer receives until io.EOF, mixing Pop, PopBatch and pipelined
// peeks (a blocking Peek, then up to two TryPeeks, checked after the last
// and released in order), checks every message (recXPCheck) and that every
// producer's n messages came. Args: path seed n producers [wait].
func xpRecConsumer(ctx context.Context, a xproc.Args, r *Records) error {
	n, seed, producers := a.Uint64("n"), a.Uint64("seed"), a.Int("producers")
	maxLen := r.SlotSize()
	blk := newRecXPBlock(seed, maxLen)
	rng := rand.New(rand.NewPCG(seed, 1<<20))
	next := make([]uint64, producers)
	scratch := make([]byte, maxLen)
	store := make([][]byte, 4)
	for i := range store {
		store[i] = make([]byte, maxLen)
	}
	bufs := make([][]byte, len(store))
	count := 0
	check := func(m []byte) error {
		if err := recXPCheck(m, next, scratch, blk, seed, n, maxLen); err != nil {
			return fmt.Errorf("message %d: %w", count, err)
		}
		count++
		return nil
	}
	var ops [3]int
	pipelined := 0 // peeks with more than one outstanding
	for {
		op := rng.IntN(3)
		ops[op]++
		switch op {
		case 0:
			k, err := r.Pop(ctx, store[0])
			if err == io.EOF {
				goto done
			}
			if err != nil {
				return fmt.Errorf("pop after %d messages: %w", count, err)
			}
			if err := check(store[0][:k]); err != nil {
				return err
			}
		case 1:
			k := 1 + rng.IntN(len(store))
			for i := 0; i < k; i++ {
				bufs[i] = store[i][:maxLen]
			}
			got, err := r.PopBatch(ctx, bufs[:k])
			if err == io.EOF {
				goto done
			}
			if err != nil || got < 1 || got > k {
				return fmt.Errorf("pop batch of %d after %d messages: %d, %v", k, count, got, err)
			}
			for i := 0; i < got; i++ {
				if err := check(bufs[i]); err != nil {
					return err
				}
			}
		case 2:
			m, err := r.Peek(ctx)
			if err == io.EOF {
				goto done
			}
			if err != nil {
				return fmt.Errorf("peek after %d messages: %w", count, err)
			}
			ms := []Message{m}
			for want := rng.IntN(3); len(ms) <= want; {
				m, err := r.TryPeek()
				if err == ErrEmpty || err == io.EOF {
					break
				}
				if err != nil {
					return fmt.Errorf("pipelined peek %d after %d messages: %w", len(ms), count, err)
				}
				ms = append(ms, m)
			}
			if len(ms) > 1 {
				pipelined++
				if err := r.Release(ms[1]); err != ErrNotReserved {
					return fmt.Errorf("release of the second of %d peeks first: %v, want ErrNotReserved", len(ms), err)
				}
			}
			// Checked only now: a later peek or another producer must not
			// have touched an outstanding peek's bytes.
			for _, m := range ms {
				if err := check(m.Data); err != nil {
					return fmt.Errorf("peeked: %w", err)
				}
				if err := r.Release(m); err != nil {
					return fmt.Errorf("release after %d messages: %w", count, err)
				}
			}
		}
	}
done:
	for id, k := range next {
		if k != n {
			return fmt.Errorf("io.EOF after %d messages: producer %d delivered %d of %d", count, id, k, n)
		}
	}
	fmt.Printf("count=%d ops=%d,%d,%d pipelined=%d\n", count, ops[0], ops[1], ops[2], pipelined)
	return nil
}

// TestRecordsXProcExactlyOnce: one consumer process and 1 or 3 producer
// processes on a large ring (1 MiB, records up to 256 KiB) and on the
// smallest (4 KiB, records up to 2032 bytes: a wrap every few records),
// blocking on both sides with WaitBlock and WaitAdaptive; the parent ends
// the stream with CloseWrite once the producers have exited, and the
// consumer must drain to io.EOF having received every producer's every
// message once, in order, intact.
func TestRecordsXProcExactlyOnce(t *testing.T) {
	seed := testSeed(t)
	cases := []struct {
		name           string
		cfg            Config
		producers, n   int
		consWait, prod WaitStrategy
	}{
		{"1MiB/1prod", Config{Capacity: 1 << 20, SlotSize: 256 << 10}, 1, 3000, WaitBlock, WaitAdaptive},
		{"1MiB/3prod", Config{Capacity: 1 << 20, SlotSize: 256 << 10}, 3, 2000, WaitAdaptive, WaitBlock},
		{"4KiB/1prod", Config{Capacity: 4096, SlotSize: 2032}, 1, 40000, WaitAdaptive, WaitBlock},
		{"4KiB/3prod", Config{Capacity: 4096, SlotSize: 2032}, 3, 20000, WaitBlock, WaitAdaptive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, path, r := xpRecArena(t, tc.cfg)
			if runtime.GOOS == "linux" && !r.Mirrored() {
				t.Fatal("a record ring in an arena on Linux is not mirrored")
			}
			common := []string{"path=" + path, "seed=" + strconv.FormatUint(seed, 10), "n=" + strconv.Itoa(tc.n)}
			start := time.Now()
			cons := xproc.StartT(t, "xp-rec-consumer", append(common, "producers="+strconv.Itoa(tc.producers), "wait="+tc.consWait.String())...)
			prods := make([]*xproc.Child, tc.producers)
			for p := range prods {
				prods[p] = xproc.StartT(t, "xp-rec-producer", append(common, "id="+strconv.Itoa(p), "wait="+tc.prod.String())...)
			}
			deadline := time.Now().Add(xpChildTimeout)
			xproc.WaitAll(t, deadline, prods, []*xproc.Child{cons})
			if err := r.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			out := xproc.Output(t, cons, deadline)
			total := tc.producers * tc.n
			if got := xproc.IntField(t, out, "count"); got != total {
				t.Fatalf("consumer received %d messages, want %d", got, total)
			}
			var pops []string
			multi := 0
			for _, p := range prods {
				pops = append(pops, xproc.Field(p.Stdout(), "ops"))
				multi += xproc.IntField(t, p.Stdout(), "multi")
			}
			if pl := xproc.IntField(t, out, "pipelined"); pl == 0 || multi == 0 {
				t.Errorf("%d pipelined peeks, %d groups of outstanding reservations: the mix did not exercise them", pl, multi)
			}
			t.Logf("%d messages in %v; consumer ops (pop, batch, peek) %s, %s pipelined; producer ops (try, push, batch, reserve) %v, %d with several reservations",
				total, time.Since(start), xproc.Field(out, "ops"), xproc.Field(out, "pipelined"), pops, multi)
			st := r.Stats()
			if st.MsgsIn != uint64(total) || st.MsgsOut != uint64(total) || st.Skipped != 0 || !st.Closed || st.Len != 0 {
				t.Errorf("Stats = %+v, want MsgsIn = MsgsOut = %d, none skipped, Closed, empty", st, total)
			}
			if _, err := r.TryPop(make([]byte, r.SlotSize())); err != io.EOF {
				t.Errorf("TryPop after the drain: %v, want io.EOF", err)
			}
			if err := r.TryPush(nil); err != ErrClosed {
				t.Errorf("TryPush after CloseWrite: %v, want ErrClosed", err)
			}
		})
	}
}

// recWrapStep is one record of the wrap plan: a filler that moves the
// claim position, or a target record starting at index start.
type recWrapStep struct {
	msg    []byte
	target bool
	start  int
}

// recWrapPlan is the records that, pushed by one producer into a fresh
// mirrored ring of capacity bytes (records up to maxLen), start a target
// record at every 16-byte offset of the data area, with lengths around
// the one whose payload ends exactly at the end of the area (so most
// targets cross it): fillers move the claim position in between.
func recWrapPlan(capacity, maxLen int, seed uint64) []recWrapStep {
	var plan []recWrapStep
	w := 0 // index of the claim position
	maxSpan := int(span(uint64(maxLen)))
	for i := 0; i < capacity; i += recordAlign {
		e := capacity - i - recordHeaderSize // the payload ends exactly at the end
		for _, n := range []int{0, 1, maxLen, e - 1, e, e + 1, e + 15, e + 16, e + 17} {
			if n < 0 || n > maxLen {
				continue
			}
			for d := (i - w + capacity) % capacity; d > 0; {
				fs := min(d, maxSpan)
				f := bytes.Repeat([]byte{'f'}, fs-recordHeaderSize)
				plan = append(plan, recWrapStep{msg: f, start: w})
				w = (w + fs) % capacity
				d -= fs
			}
			msg := make([]byte, n)
			xpFill(msg, seed^uint64(i)<<20^uint64(n))
			plan = append(plan, recWrapStep{msg: msg, target: true, start: i})
			w = (w + int(span(uint64(n)))) % capacity
		}
	}
	return plan
}

// recWrapCheck checks a peeked record against its plan step: its start,
// its contents, that Data is one contiguous slice of the mirrored area,
// and that the bytes past the end are the same memory as the area's start.
func recWrapCheck(r *Records, m Message, st recWrapStep) error {
	capacity := r.Capacity()
	if got := int(r.index(m.pos)); got != st.start {
		return fmt.Errorf("record of %d bytes at index %d, planned at %d", len(st.msg), got, st.start)
	}
	if !bytes.Equal(m.Data, st.msg) {
		return fmt.Errorf("record of %d bytes at index %d: %s", len(st.msg), st.start, xpDiff(m.Data, st.msg))
	}
	if len(m.Data) == 0 {
		return nil
	}
	if want := &r.data[st.start+recordHeaderSize]; unsafe.Pointer(&m.Data[0]) != unsafe.Pointer(want) {
		return fmt.Errorf("record at index %d: Data at %p, not in the data area (%p)", st.start, &m.Data[0], want)
	}
	// The part past the end, read through the first mapping.
	if past := st.start + recordHeaderSize + len(st.msg) - capacity; past > 0 {
		from := len(st.msg) - past
		if !bytes.Equal(r.data[:past], st.msg[from:]) {
			return fmt.Errorf("record at index %d crossing the end by %d bytes: the area's first bytes differ from its tail", st.start, past)
		}
	}
	return nil
}

// recWrapPush pushes step k of the plan, alternating TryPush/Push and
// Reserve+Commit (written into the reservation across the end).
func recWrapPush(ctx context.Context, r *Records, k int, st recWrapStep) error {
	if !st.target || k%2 == 0 {
		if err := r.Push(ctx, st.msg); err != nil {
			return fmt.Errorf("push of step %d (%d bytes at %d): %w", k, len(st.msg), st.start, err)
		}
		return nil
	}
	res, err := r.Reserve(ctx, len(st.msg))
	if err != nil {
		return fmt.Errorf("reserve of step %d (%d bytes at %d): %w", k, len(st.msg), st.start, err)
	}
	copy(res.Buf, st.msg)
	if err := r.Commit(res, len(st.msg)); err != nil {
		return fmt.Errorf("commit of step %d: %w", k, err)
	}
	return nil
}

// recWrapRead reads step k of the plan: a peek (checked by recWrapCheck)
// for a target, then a Release; a Pop for a filler.
func recWrapRead(ctx context.Context, r *Records, k int, st recWrapStep, buf []byte) error {
	if !st.target {
		n, err := r.Pop(ctx, buf)
		if err != nil || !bytes.Equal(buf[:n], st.msg) {
			return fmt.Errorf("filler of step %d (%d bytes at %d): %d bytes, %v", k, len(st.msg), st.start, n, err)
		}
		return nil
	}
	m, err := r.Peek(ctx)
	if err != nil {
		return fmt.Errorf("peek of step %d (%d bytes at %d): %w", k, len(st.msg), st.start, err)
	}
	if err := recWrapCheck(r, m, st); err != nil {
		return fmt.Errorf("step %d: %w", k, err)
	}
	return r.Release(m)
}

const recWrapCap, recWrapMax = 4096, 2032

// TestRecordsWrapEveryOffset: in one process, a record starts at every
// 16-byte offset of the data area with lengths that make it end just
// before, at and past the end: it reads back in place, contiguous and
// intact.
func TestRecordsWrapEveryOffset(t *testing.T) {
	seed := testSeed(t)
	_, _, r := xpRecArena(t, Config{Capacity: recWrapCap, SlotSize: recWrapMax})
	if !r.Mirrored() {
		t.Skip("no double mapping here: records do not cross the end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	plan := recWrapPlan(recWrapCap, recWrapMax, seed)
	buf := make([]byte, recWrapMax)
	crossed := 0
	for k, st := range plan {
		if err := recWrapPush(ctx, r, k, st); err != nil {
			t.Fatal(err)
		}
		if err := recWrapRead(ctx, r, k, st, buf); err != nil {
			t.Fatal(err)
		}
		if st.target && st.start+recordHeaderSize+len(st.msg) > recWrapCap {
			crossed++
		}
	}
	t.Logf("%d records, %d crossing the end", len(plan), crossed)
	if crossed < recWrapCap/recordAlign/2 {
		t.Fatalf("only %d records crossed the end", crossed)
	}
	if st := r.Stats(); st.MsgsIn != uint64(len(plan)) || st.MsgsOut != uint64(len(plan)) {
		t.Fatalf("Stats %+v, want %d in and out", st, len(plan))
	}
}

// TestRecordsXProcWrapEveryOffset: the plan of TestRecordsWrapEveryOffset
// written by a child and read by the parent, then written by the parent
// and read by a child: each process has its own double mapping.
func TestRecordsXProcWrapEveryOffset(t *testing.T) {
	seed := testSeed(t)
	for _, side := range []string{"push", "read"} {
		t.Run("child-"+side, func(t *testing.T) {
			_, path, r := xpRecArena(t, Config{Capacity: recWrapCap, SlotSize: recWrapMax})
			if !r.Mirrored() {
				t.Skip("no double mapping here: records do not cross the end")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			child := xproc.StartT(t, "xp-rec-wrap", "path="+path, "seed="+strconv.FormatUint(seed, 10), "side="+side, "wait=block")
			plan := recWrapPlan(recWrapCap, recWrapMax, seed)
			buf := make([]byte, recWrapMax)
			r.SetWaitStrategy(WaitAdaptive)
			for k, st := range plan {
				var err error
				if side == "push" {
					err = recWrapRead(ctx, r, k, st, buf)
				} else {
					err = recWrapPush(ctx, r, k, st)
				}
				if err != nil {
					t.Fatalf("%v (child: %v)", err, child.Err())
				}
			}
			out := xproc.Output(t, child, time.Now().Add(20*time.Second))
			if got := xproc.IntField(t, out, "steps"); got != len(plan) {
				t.Fatalf("child did %d steps, want %d", got, len(plan))
			}
		})
	}
}

// xpRecWrap pushes (side=push) or reads (side=read) the wrap plan. Args:
// path seed side [wait].
func xpRecWrap(ctx context.Context, a xproc.Args, r *Records) error {
	if !r.Mirrored() {
		return errors.New("the child's handle is not mirrored")
	}
	plan := recWrapPlan(r.Capacity(), r.SlotSize(), a.Uint64("seed"))
	buf := make([]byte, r.SlotSize())
	for k, st := range plan {
		var err error
		if a["side"] == "push" {
			err = recWrapPush(ctx, r, k, st)
		} else {
			err = recWrapRead(ctx, r, k, st, buf)
		}
		if err != nil {
			return err
		}
	}
	fmt.Printf("steps=%d\n", len(plan))
	return nil
}
