package ring

// Cross-process MPMC: producer and consumer processes on one ring, with
// exactly-once delivery and per-producer FIFO proved from the consumers'
// logs.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/xproc"
)

func init() {
	roles["xp-mpmc-producer"] = xpRingRole("mpmc", xpMPMCProducer)
	roles["xp-mpmc-consumer"] = xpRingRole("mpmc", xpMPMCConsumer)
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
	seed := testSeed(t)
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
	cons := make([]*xproc.Child, consumers)
	for c := range cons {
		logs[c] = filepath.Join(dir, fmt.Sprintf("consumer%d.log", c))
		cons[c] = xproc.StartT(t, "xp-mpmc-consumer", append(common, "log="+logs[c], "producers="+strconv.Itoa(producers))...)
	}
	prods := make([]*xproc.Child, producers)
	for p := range prods {
		prods[p] = xproc.StartT(t, "xp-mpmc-producer", append(common, "id="+strconv.Itoa(p))...)
	}
	deadline := time.Now().Add(xpChildTimeout)
	xproc.WaitAll(t, deadline, prods, cons)
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
	xproc.WaitAll(t, deadline, cons, nil)
	counts := make([]int, consumers)
	for c, ch := range cons {
		counts[c] = xproc.IntField(t, ch.Stdout(), "count")
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

// xpMPMCProducer pushes n messages xpMPMCMsg(id, 0..n-1) and exits without
// closing. Args: path ring seed n id.
func xpMPMCProducer(ctx context.Context, a xproc.Args, r Ring) error {
	n, seed, id := a.Int("n"), a.Uint64("seed"), uint32(a.Int("id"))
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
func xpMPMCConsumer(ctx context.Context, a xproc.Args, r Ring) error {
	n, seed, producers := uint64(a.Int("n")), a.Uint64("seed"), uint32(a.Int("producers"))
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
