package ring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
)

// viewRecordsArena makes an arena in /dev/shm with two record rings: "rec"
// (created in the arena: mirrored on Linux) and "plain" (NewRecords over a
// region: not mirrored, padding records at the wrap), both 4 KiB with
// records up to 1 KiB. It returns the arena's path, the writable handle
// and the two rings.
func viewRecordsArena(t *testing.T) (string, *arena.Arena, *Records, *Records) {
	t.Helper()
	dir := "/dev/shm"
	if _, err := os.Stat(dir); err != nil {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, fmt.Sprintf("shmring-viewrec-%d-%d", os.Getpid(), recArenaSeq.Add(1)))
	cfg := Config{Capacity: 4096, SlotSize: 1024}
	size, err := ArenaSize([]Spec{{Kind: KindRecords, Config: cfg}, {Kind: KindRecords, Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := arena.Create(p, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); os.Remove(p) })
	r, err := CreateRecords(a, "rec", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	n, err := Size(KindRecords, cfg, a.PadUnit())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := a.AllocKind("plain", KindRecords, n, recordDataAlign)
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewRecords(reg.Bytes(), cfg, a.PadUnit())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return p, a, r, q
}

func recMsg(i, n int) []byte {
	return bytes.Repeat([]byte{byte('a' + i%26)}, n)
}

// TestViewRecords: a View of record rings, mirrored and not, through a
// read-only arena: the config, the header and unit fields, the records
// between the positions (across the wrap, with padding in the plain
// ring), the usage summary, ReadRecord's payloads, and no Check problem.
func TestViewRecords(t *testing.T) {
	p, _, rec, plain := viewRecordsArena(t)
	ro, err := arena.Open(p, arena.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for _, tc := range []struct {
		name     string
		r        *Records
		mirrored bool
	}{{"rec", rec, rec.Mirrored()}, {"plain", plain, false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			// Move the positions near the end of the data area, so the
			// records below cross it (or, plain, a padding record fills it).
			for i := 0; i < 3; i++ {
				if err := r.TryPush(recMsg(i, 1000)); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 1024)
			for i := 0; i < 3; i++ {
				if _, err := r.TryPop(buf); err != nil {
					t.Fatal(err)
				}
			}
			// Three records of 1000+16 -> 1024 bytes: H = W = 3072.
			want := [][]byte{recMsg(3, 700), recMsg(4, 300), recMsg(5, 0), recMsg(6, 1024)}
			for _, m := range want {
				if err := r.TryPush(m); err != nil {
					t.Fatalf("push %d: %v", len(m), err)
				}
			}
			res, err := r.TryReserve(100) // busy, of a live handle
			if err != nil {
				t.Fatal(err)
			}
			defer r.Commit(res, 0)

			v, err := OpenView(ro, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			if cfg := v.Config(); v.KindName() != "records" || cfg.Capacity != 4096 || cfg.SlotSize != 1024 || cfg.Slots != 0 {
				t.Fatalf("kind %s config %+v", v.KindName(), cfg)
			}
			if v.Mirrored() != tc.mirrored {
				t.Errorf("Mirrored %v, want %v", v.Mirrored(), tc.mirrored)
			}
			fields := map[string]Field{}
			for _, f := range v.Header() {
				fields[f.Name] = f
			}
			prodOff := fields["prod.Pos"].Offset
			for _, w := range []struct {
				name string
				off  int64
				val  uint64
			}{{"DataAlign", 100, recordDataAlign}, {"Capacity", 104, 4096}, {"Slots", 16, 256},
				{"prod.ClaimLock", prodOff + 16, 0}, {"prod.HeadCache", prodOff + 24, 3072}} {
				f, ok := fields[w.name]
				if !ok || f.Offset != w.off || f.Value != w.val {
					t.Errorf("field %s = %+v (present %v), want offset %d value %d", w.name, f, ok, w.off, w.val)
				}
			}
			pos := v.Positions()
			if pos.Consumer != 3072 || pos.Closed {
				t.Errorf("Positions %+v", pos)
			}
			if v.Slots(0, 4) != nil {
				t.Errorf("Slots on a record ring is not nil")
			}
			recs := v.Records(100)
			var states []string
			for _, h := range recs {
				states = append(states, fmt.Sprintf("%s/%d", h.State, h.Len))
			}
			wantStates := "message/700 message/300 message/0 message/1024 busy"
			if !tc.mirrored {
				// 3072+720 = 3792, +320 = 4112 > 4096: padding of 304
				// bytes at 3792, the 300-byte record at 4096.
				wantStates = "message/700 padding/0 message/300 message/0 message/1024 busy"
			}
			if got := strings.Join(states, " "); !strings.HasPrefix(got, wantStates) {
				t.Fatalf("Records: %s, want %s", got, wantStates)
			}
			last := recs[len(recs)-1]
			if last.State != RecordBusy || last.OwnerGone || last.Size != 128 || last.Entry == 0 {
				t.Errorf("busy record %+v", last)
			}
			u := v.RecordUsage()
			wantUsed := pos.Producer - pos.Consumer
			if u.Capacity != 4096 || u.Used != wantUsed || u.Messages != 4 || u.Busy != 1 || u.Largest != 1024 ||
				u.Mirrored != tc.mirrored || !u.Complete || u.MaxRecord != 1024 {
				t.Errorf("RecordUsage %+v (used want %d)", u, wantUsed)
			}
			if !tc.mirrored && u.Padding != 1 {
				t.Errorf("RecordUsage %+v: want one padding record", u)
			}
			// ReadRecord follows the stream: every payload exactly, the
			// crossing one (mirrored: the 300 bytes at 3792) in two pieces.
			at, got := pos.Consumer, [][]byte{}
			for {
				h, n, err := v.ReadRecord(at, buf)
				if err != nil {
					t.Fatalf("ReadRecord(%d): %v", at, err)
				}
				if h.State == RecordBusy {
					break
				}
				if h.State == RecordMessage {
					got = append(got, append([]byte(nil), buf[:n]...))
				}
				at += uint64(h.Size)
			}
			if len(got) != len(want) {
				t.Fatalf("ReadRecord read %d messages, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("message %d: %d bytes %.8q, want %d bytes %.8q", i, len(got[i]), got[i], len(want[i]), want[i])
				}
			}
			if probs := v.Check(); len(probs) != 0 {
				t.Errorf("healthy ring: Check found %v", probs)
			}
			// The consumer takes the first record: ReadRecord of its
			// position says it was passed, and where to resume.
			if _, err := r.TryPop(buf); err != nil {
				t.Fatal(err)
			}
			var pe *PassedError
			if _, _, err := v.ReadRecord(pos.Consumer, buf); !errors.As(err, &pe) || pe.Consumer <= pos.Consumer {
				t.Errorf("ReadRecord of a consumed record: %v", err)
			}
			if st := v.Stats(); st.MsgsIn != 7 || st.MsgsOut != 4 || st.Len != 3 {
				t.Errorf("Stats %+v", st)
			}
		})
	}
}

// TestViewRecordsEnd: ReadRecord at the claim position says ErrEmpty,
// and io.EOF once the stream is ended; a View of another kind answers
// ErrKind and has no records.
func TestViewRecordsEnd(t *testing.T) {
	p, _, rec, _ := viewRecordsArena(t)
	ro, err := arena.Open(p, arena.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	v, err := OpenView(ro, "rec")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, _, err := v.ReadRecord(0, nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("ReadRecord on an empty ring: %v", err)
	}
	if _, _, err := v.ReadRecord(8, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ReadRecord(8): %v", err)
	}
	if err := rec.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.ReadRecord(0, nil); err != io.EOF {
		t.Fatalf("ReadRecord at the end of an ended stream: %v", err)
	}
	if !v.Positions().Closed {
		t.Errorf("Positions: not closed")
	}

	_, a, _ := viewArena(t)
	s, err := OpenView(a, "s")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.ReadRecord(0, nil); !errors.Is(err, ErrKind) {
		t.Errorf("ReadRecord on SPSC: %v", err)
	}
	if s.Records(10) != nil || s.RecordUsage() != (RecordUsage{}) {
		t.Errorf("records of an SPSC ring")
	}
}

// TestViewCheckRecords plants each kind of damage Check looks for in a
// record ring, and the findings of a crash (a handle gone with a
// reservation outstanding, a claim lock left held), and expects each
// named with its field; Recover clears the crash findings.
func TestViewCheckRecords(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		// plant damages the ring through r's mapping; gone is the tag of
		// a handle that closed with a reservation outstanding.
		plant   func(r *Records, gone uint32)
		recover bool // Recover clears it
	}{
		{"consumer misaligned", "cons.Pos", func(r *Records, _ uint32) { atomic.AddUint64(&r.cons.Pos, 8) }, false},
		{"claim too far ahead", "prod.Pos", func(r *Records, _ uint32) { atomic.AddUint64(&r.prod.Pos, 8192) }, false},
		{"claim epoch bits", "prod.Pos", func(r *Records, _ uint32) { atomic.AddUint64(&r.prod.Pos, spscEpochOne) }, false},
		{"lap", "record[0]", func(r *Records, _ uint32) { atomic.AddUint32(&r.hdr(0).State, 1<<recLapShift) }, false},
		{"size", "record[0]", func(r *Records, _ uint32) { atomic.StoreUint32(&r.hdr(0).Size, 24) }, false},
		{"size past W", "record[0]", func(r *Records, _ uint32) { atomic.StoreUint32(&r.hdr(0).Size, 2048) }, false},
		{"state", "record[0]", func(r *Records, _ uint32) { atomic.StoreUint32(&r.hdr(0).State, 6) }, false},
		{"length", "record[0]", func(r *Records, _ uint32) { atomic.StoreUint32(&r.hdr(0).Len, 1000) }, false},
		{"padding in a mirrored ring", "record[0]", func(r *Records, _ uint32) { atomic.StoreUint32(&r.hdr(0).State, recPadding) }, false},
		{"head cache ahead", "prod.HeadCache", func(r *Records, _ uint32) { atomic.StoreUint64(&r.rp.HeadCache, 1024) }, false},
		{"counter", "peer.MsgsIn", func(r *Records, _ uint32) { atomic.AddUint64(&r.peerAt(1).MsgsIn, 1) }, false},
		{"skips are fine", "", func(r *Records, _ uint32) { atomic.AddUint64(&r.core.hdr.Skipped, 1) }, false},
		{"redeliveries are not", "Redelivered", func(r *Records, _ uint32) { atomic.AddUint64(&r.core.hdr.Redelivered, 1) }, false},
		{"lock of a gone handle", "prod.ClaimLock", func(r *Records, gone uint32) { atomic.StoreUint32(&r.rp.ClaimLock, gone) }, true},
		{"lock garbage", "prod.ClaimLock", func(r *Records, _ uint32) { atomic.StoreUint32(&r.rp.ClaimLock, 1<<10) }, false},
		{"busy record of a gone handle", "].State", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, a, rec, _ := viewRecordsArena(t)
			if !rec.Mirrored() && strings.Contains(tc.name, "mirrored") {
				t.Skip("the ring is not mirrored here")
			}
			for i := 0; i < 3; i++ {
				if err := rec.TryPush(recMsg(i, 40)); err != nil { // 64-byte records at 0, 64, 128
					t.Fatal(err)
				}
			}
			// A second handle reserves a record and leaves without
			// committing it (its entry released: the record's owner is
			// gone); its tag is the planted claim lock's value.
			r2, err := OpenRecords(a, "rec")
			if err != nil {
				t.Fatal(err)
			}
			res, err := r2.TryReserve(10)
			if err != nil {
				t.Fatal(err)
			}
			gone := r2.ownerTag
			_ = res
			r2.Close()
			if tc.plant != nil {
				// Without the gone handle's busy record: commit nothing,
				// but make it a skip record through Recover first.
				if rec.Recover().Skipped != 1 {
					t.Fatal("Recover did not skip the gone handle's record")
				}
			}
			ro, err := arena.Open(p, arena.ReadOnly())
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			v, err := OpenView(ro, "rec")
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			if tc.plant != nil {
				if probs := v.Check(); len(probs) != 0 {
					t.Fatalf("before damage: %v", probs)
				}
				tc.plant(rec, gone)
			}
			probs := v.Check()
			if tc.field == "" {
				if len(probs) != 0 {
					t.Fatalf("Check = %v, want none", probs)
				}
				return
			}
			found := false
			for _, pr := range probs {
				if strings.Contains(pr.Field, tc.field) {
					found = true
				}
			}
			if !found {
				t.Fatalf("Check = %v, want a problem in %s", probs, tc.field)
			}
			if tc.recover {
				rec.Recover()
				if probs := v.Check(); len(probs) != 0 {
					t.Fatalf("after Recover: %v", probs)
				}
			}
		})
	}
}

// TestViewCheckRecordsBusy: Check and the walks on a record ring under
// traffic from two producers and a peeking consumer report nothing, and
// ReadRecord's copies are never torn (each message is one repeated byte
// with its length).
func TestViewCheckRecordsBusy(t *testing.T) {
	p, a, rec, _ := viewRecordsArena(t)
	r2, err := OpenRecords(a, "rec")
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	ro, err := arena.Open(p, arena.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for i, r := range []*Records{rec, r2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ctx.Err() == nil; k++ {
				n := (k*37 + i*11) % 1000
				if k%3 == 0 {
					res, err := r.TryReserve(n)
					if err == nil {
						copy(res.Buf, recMsg(n, n))
						_ = r.Commit(res, n)
					}
					continue
				}
				_ = r.TryPush(recMsg(n, n))
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1024)
		for ctx.Err() == nil {
			if m, err := rec.TryPeek(); err == nil {
				_ = rec.Release(m)
			}
			_, _ = rec.TryPop(buf)
		}
	}()
	v, err := OpenView(ro, "rec")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	buf := make([]byte, 1024)
	checks, reads := 0, 0
	at := v.Positions().Consumer
	fail := func(format string, args ...any) {
		cancel()
		wg.Wait()
		t.Fatalf(format, args...)
	}
	for ctx.Err() == nil {
		if probs := v.Check(); len(probs) != 0 {
			fail("under traffic: %v", probs)
		}
		checks++
		_ = v.Records(64)
		_ = v.RecordUsage()
		for i := 0; i < 64; i++ {
			h, n, err := v.ReadRecord(at, buf)
			var pe *PassedError
			switch {
			case errors.As(err, &pe):
				at = pe.Consumer
				continue
			case errors.Is(err, ErrEmpty):
			case err != nil:
				fail("ReadRecord(%d): %v", at, err)
			case h.State == RecordBusy:
			case h.State == RecordMessage:
				if !bytes.Equal(buf[:n], recMsg(n, n)) {
					fail("torn read at %d: %d bytes %q", at, n, buf[:n])
				}
				reads++
				fallthrough
			default:
				at += uint64(h.Size)
				continue
			}
			break
		}
	}
	wg.Wait()
	if checks < 3 {
		t.Fatalf("only %d checks ran", checks)
	}
	t.Logf("%d checks, %d records read", checks, reads)
}
