package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// inspectFixture is an arena for inspect and check tests: a raw region
// "raw" and one ring of each kind, "s" (SPSC), "m" (MPMC) and "b"
// (broadcast, with a lossy subscriber), 8 slots of 64 bytes each, with
// messages moved through each; m also holds a binary message. The
// handles stay open until the test ends (their peer entries are
// occupied and alive).
type inspectFixture struct {
	path  string
	a     *arena.Arena
	rings map[string]ring.Ring
	bcast *ring.Broadcast
	sub   *ring.Subscriber
}

func newInspectFixture(t *testing.T) *inspectFixture {
	t.Helper()
	f := &inspectFixture{path: filepath.Join(t.TempDir(), "arena"), rings: map[string]ring.Ring{}}
	a, err := arena.Create(f.path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	f.a = a
	t.Cleanup(func() { a.Close() })
	if _, err := a.Alloc("raw", 1000, 0); err != nil {
		t.Fatal(err)
	}
	cfg := ring.Config{Slots: 8, SlotSize: 64}
	for _, k := range []struct {
		name string
		kind arena.Kind
	}{{"s", ring.KindSPSC}, {"m", ring.KindMPMC}} {
		r, err := ring.Create(a, k.name, k.kind, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		for i := 0; i < 5; i++ {
			if err := r.TryPush([]byte(fmt.Sprintf("%s-%d", k.name, i))); err != nil {
				t.Fatal(err)
			}
		}
		var buf [64]byte
		if _, err := r.TryPop(buf[:]); err != nil {
			t.Fatal(err)
		}
		f.rings[k.name] = r
	}
	if err := f.rings["m"].TryPush([]byte{0, 1, 0xfe, 0xff}); err != nil {
		t.Fatal(err)
	}
	cfg.Subscribers = 2
	b, err := ring.CreateBroadcast(a, "b", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s, err := ring.Subscribe(a, "b", ring.SubscribeOptions{From: ring.Oldest, Lossy: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := 0; i < 6; i++ {
		if err := b.TryPush([]byte(fmt.Sprintf("b-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var buf [64]byte
	for i := 0; i < 2; i++ {
		if _, err := s.TryPop(buf[:]); err != nil {
			t.Fatal(err)
		}
	}
	f.bcast, f.sub = b, s
	return f
}

// runCmd runs shmring with args and returns the exit status and output.
// decodeStrict decodes JSON into v, refusing fields v does not have.
func decodeStrict(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
}

// TestInspectArena: without a region, inspect lists every header field
// and every directory entry with the offsets and values of the file (the
// fields' values are the little-endian integers at their offsets), in
// text and JSON.
func TestInspectArena(t *testing.T) {
	f := newInspectFixture(t)
	code, out, errOut := runCmd("inspect", f.path)
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	t.Logf("shmring inspect:\n%s", out)
	for _, row := range [][]string{
		{"0x0", "0", "8", "Magic", `"SHMRING\x00"`},
		{"0x80", "128", "4", "State", "0x59444552", "(ready)"},
		{"0x84", "132", "4", "DirCount", "4"},
		{"0x88", "136", "8", "AllocNext"},
		{"0x98", "152", "104", "reserved", "zero"},
		{"directory:", "4", "entries"},
		{"directory", "entry", "1", "at", "0x180", "(384):", `"s",`, "spsc,"},
		{"0x1d8", "472", "4", "Kind", "0x43535053", "(SPSC)"},
		{`"m",`, "mpmc,"}, {`"b",`, "broadcast,"}, {`"raw",`, "raw,"},
	} {
		if !hasRow(out, row...) {
			t.Errorf("text has no row with %q", row)
		}
	}

	code, out, _ = runCmd("inspect", f.path, "--json")
	if code != exitOK {
		t.Fatalf("--json: exit %d", code)
	}
	var rep inspectReport
	decodeStrict(t, out, &rep)
	file, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	checkFieldBytes(t, file, rep.Header)
	names := map[string]int64{}
	for _, f := range rep.Header {
		names[f.Name] = f.FileOffset
	}
	if names["TotalSize"] != 32 || names["DirGeneration"] != 144 || names["Checksum"] != 124 {
		t.Errorf("header offsets %v", names)
	}
	if len(rep.Directory) != 4 || rep.Ring != nil || rep.Region != nil {
		t.Fatalf("directory %+v", rep.Directory)
	}
	regs, _ := f.a.Regions()
	for i, e := range rep.Directory {
		checkFieldBytes(t, file, e.Fields)
		if e.Name != regs[i].Name() || e.RegionOffset != regs[i].Offset() || e.Offset != int64(arena.HeaderSize+i*arena.DirEntrySize) {
			t.Errorf("entry %d: %+v, region %s at %d", i, e, regs[i].Name(), regs[i].Offset())
		}
		if want := []string{"raw", "spsc", "mpmc", "broadcast"}[i]; e.KindName != want {
			t.Errorf("entry %d kind %q, want %q", i, e.KindName, want)
		}
	}
}

// hasRow reports whether a line of out holds the words cols, in order and
// next to each other (columns of any width).
func hasRow(out string, cols ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		words := strings.Fields(line)
		for i := 0; i+len(cols) <= len(words); i++ {
			if fmt.Sprint(words[i:i+len(cols)]) == fmt.Sprint(cols) {
				return true
			}
		}
	}
	return false
}

// checkFieldBytes checks each integer field's value is the little-endian
// integer at its file offset.
func checkFieldBytes(t *testing.T, file []byte, fields []inspectField) {
	t.Helper()
	for _, f := range fields {
		if f.Size != 2 && f.Size != 4 && (f.Size != 8 || f.Name == "Magic") {
			continue
		}
		var v uint64
		for i := f.Size - 1; i >= 0; i-- {
			v = v<<8 | uint64(file[f.FileOffset+int64(i)])
		}
		if v != f.Value {
			t.Errorf("%s at %d: value %d, file has %d", f.Name, f.FileOffset, f.Value, v)
		}
	}
}

// TestInspectRing: with a ring region, inspect shows the ring header with
// offsets relative to the ring and absolute (file = ring offset + ring
// offset), the positions, the peer table and for broadcast the
// subscribers, agreeing with the handles.
func TestInspectRing(t *testing.T) {
	f := newInspectFixture(t)
	for _, tc := range []struct {
		name, kind string
		prod, cons uint64
		subs       int
	}{{"s", "spsc", 5, 1, 0}, {"m", "mpmc", 6, 1, 0}, {"b", "broadcast", 6, 0, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd("inspect", f.path, tc.name)
			if code != exitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			t.Logf("shmring inspect %s:\n%s", tc.name, out)
			reg, _ := f.a.Lookup(tc.name)
			for _, row := range [][]string{
				{"ring", fmt.Sprintf("%q:", tc.name), tc.kind + ",", "8", "slots", "of", "64", "bytes,"},
				{"+16", fmt.Sprintf("%#x", reg.Offset()+16), fmt.Sprint(reg.Offset() + 16), "4", "Slots", "8"},
				{"prod.Pos"}, {"cons.NotFullWaiters"},
				{"producer", fmt.Sprint(tc.prod)},
				{"peer", "table:"}, {"1", "+640", fmt.Sprintf("%#x", reg.Offset()+640), fmt.Sprint(reg.Offset() + 640), fmt.Sprint(os.Getpid())},
			} {
				if !hasRow(out, row...) {
					t.Errorf("text has no row with %q", row)
				}
			}
			code, out, _ = runCmd("inspect", "--json", f.path, tc.name)
			if code != exitOK {
				t.Fatalf("--json: exit %d", code)
			}
			var rep inspectReport
			decodeStrict(t, out, &rep)
			r := rep.Ring
			if r == nil || rep.Region == nil || rep.Region.Name != tc.name || rep.Header != nil {
				t.Fatalf("report %+v", rep)
			}
			if r.Kind != tc.kind || r.Offset != reg.Offset() || r.Slots != 8 || r.SlotSize != 64 {
				t.Errorf("ring %+v", r)
			}
			for _, fl := range r.Header {
				if fl.FileOffset != r.Offset+fl.Offset {
					t.Errorf("%s: file offset %d, ring offset %d + %d", fl.Name, fl.FileOffset, r.Offset, fl.Offset)
				}
			}
			file, _ := os.ReadFile(f.path)
			checkFieldBytes(t, file, r.Header)
			if r.Positions.Producer != tc.prod || (tc.kind != "broadcast" && r.Positions.Consumer != tc.cons) {
				t.Errorf("positions %+v", r.Positions)
			}
			if len(r.PeerTable) == 0 {
				t.Fatal("no peers")
			}
			v, err := ring.OpenView(f.a, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			for _, p := range r.PeerTable {
				if !p.Alive || p.PID != os.Getpid() || p.Offset != v.PeerOffset(p.Index) || p.FileOffset != r.Offset+p.Offset || p.Attached == "" {
					t.Errorf("peer %+v", p)
				}
			}
			if len(r.SubTable) != tc.subs {
				t.Errorf("%d subscribers, want %d", len(r.SubTable), tc.subs)
			}
			if tc.subs > 0 && (r.SubTable[0].Cursor != 2 || r.SubTable[0].Lag != 4 || !r.SubTable[0].Lossy) {
				t.Errorf("subscriber %+v", r.SubTable[0])
			}
			if r.SlotHeaders != nil {
				t.Errorf("slot headers without --slots")
			}
		})
	}
}

// TestInspectSlots: --slots=N dumps the slot headers of the windows
// around the consumer and before the producer, with payload previews in
// text or hex; a bare --slots takes the default window.
func TestInspectSlots(t *testing.T) {
	f := newInspectFixture(t)
	for _, tc := range []struct {
		name, flag string
		pos        []uint64
		preview    map[uint64]string
		format     map[uint64]string
	}{
		// cons 1, prod 5, window 2: [0,3) and [3,5).
		{"s", "--slots=2", []uint64{0, 1, 2, 3, 4}, map[uint64]string{0: `"s-0"`, 4: `"s-4"`}, map[uint64]string{4: "text"}},
		// cons 1, prod 6: [0,2) and [5,6); position 5 is the binary message.
		{"m", "--slots=1", []uint64{0, 1, 5}, map[uint64]string{1: `"m-1"`, 5: "0001feff"}, map[uint64]string{5: "hex"}},
		// the subscriber's cursor 2, prod 6: [0,5) and [3,6).
		{"b", "--slots=3", []uint64{0, 1, 2, 3, 4, 5}, map[uint64]string{2: `"b-2"`}, nil},
		// bare --slots: window 8 (the slot count): [0,9) and [0,5).
		{"s", "--slots", []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8}, nil, nil},
	} {
		t.Run(tc.name+tc.flag, func(t *testing.T) {
			code, out, errOut := runCmd("inspect", f.path, tc.name, tc.flag)
			if code != exitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			t.Logf("shmring inspect %s %s:\n%s", tc.name, tc.flag, out)
			if !strings.Contains(out, "slot headers") {
				t.Errorf("no slot headers in the text")
			}
			_, out, _ = runCmd("inspect", f.path, tc.name, tc.flag, "--json")
			var rep inspectReport
			decodeStrict(t, out, &rep)
			var got []uint64
			for _, s := range rep.Ring.SlotHeaders {
				got = append(got, s.Pos)
				if s.Index != int(s.Pos%8) || s.FileOffset != rep.Ring.Offset+s.Offset {
					t.Errorf("slot %+v", s)
				}
				if w, ok := tc.preview[s.Pos]; ok && s.Preview != w {
					t.Errorf("position %d preview %q, want %q", s.Pos, s.Preview, w)
				}
				if w, ok := tc.format[s.Pos]; ok && s.PreviewFormat != w {
					t.Errorf("position %d preview format %q, want %q", s.Pos, s.PreviewFormat, w)
				}
				if s.Writing {
					t.Errorf("position %d: writing bit set on a committed slot", s.Pos)
				}
				if rep.Ring.Kind == "spsc" && s.Pos < 5 && s.Seq != s.Pos+1 {
					t.Errorf("position %d seq %d", s.Pos, s.Seq)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.pos) {
				t.Errorf("positions %v, want %v", got, tc.pos)
			}
		})
	}
}

func TestInspectSlotWindows(t *testing.T) {
	for _, tc := range []struct {
		cons, prod uint64
		n, slots   int
		want       string
	}{
		{0, 0, 8, 8, "[0 1 2 3 4 5 6 7]"},
		{10, 12, 2, 8, "[8 9 10 11]"},
		{10, 20, 2, 8, "[8 9 10 11 18 19]"},
		{3, 3, 100, 4, "[0 1 2 3 4 5 6]"},
		{1 << 40, 1<<40 + 1, 1, 8, fmt.Sprintf("[%d %d]", 1<<40-1, 1<<40)},
	} {
		if got := fmt.Sprint(inspectSlotWindows(tc.cons, tc.prod, tc.n, tc.slots)); got != tc.want {
			t.Errorf("windows(cons %d, prod %d, n %d, slots %d) = %s, want %s", tc.cons, tc.prod, tc.n, tc.slots, got, tc.want)
		}
	}
	for _, tc := range []struct {
		pos  uint64
		want string
	}{{3, "cons-2"}, {5, "cons"}, {6, "cons+1"}, {9, "prod-1"}, {10, "prod"}, {12, "prod+2"}} {
		if got := inspectSlotLabel(tc.pos, 5, 10); got != tc.want {
			t.Errorf("label(%d) = %q, want %q", tc.pos, got, tc.want)
		}
	}
}

func TestInspectSlotsFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		bad  bool
	}{{"true", inspectSlotsDefault, false}, {"false", 0, false}, {"1", 1, false}, {"64", 64, false},
		{"0", 0, true}, {"-3", 0, true}, {"x", 0, true}, {fmt.Sprint(inspectSlotsMax + 1), 0, true}} {
		var f inspectSlotsFlag
		err := f.Set(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && f.n != tc.want) {
			t.Errorf("Set(%q) = %v, n %d; want n %d, error %v", tc.in, err, f.n, tc.want, tc.bad)
		}
	}
}

// TestInspectExits: the exit statuses and messages of inspect's failures.
func TestInspectExits(t *testing.T) {
	f := newInspectFixture(t)
	corrupt := filepath.Join(t.TempDir(), "corrupt")
	b, _ := os.ReadFile(f.path)
	b[70] ^= 1 // the header checksum fails
	if err := os.WriteFile(corrupt, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		want       int
		wantStdout string // "" means empty
		wantStderr string // "" means empty
	}{
		{"not a ring", []string{f.path, "raw"}, exitOK, `region "raw" is not a ring (kind raw)`, ""},
		{"not a ring, JSON", []string{f.path, "raw", "--json"}, exitOK, `"note": "region \"raw\" is not a ring`, ""},
		{"unknown region", []string{f.path, "nosuch"}, exitFailure, "", `region not found: "nosuch"`},
		{"bad region name", []string{f.path, "a\x01b"}, exitFailure, "", "bad name"},
		{"missing arena", []string{filepath.Join(t.TempDir(), "nosuch")}, exitFailure, "", "not found"},
		{"corrupt arena", []string{corrupt}, exitFailure, "", "checksum"},
		{"no arguments", nil, exitUsage, "", "missing ARENA"},
		{"three arguments", []string{f.path, "s", "m"}, exitUsage, "", `unexpected argument "m"`},
		{"slots without a region", []string{f.path, "--slots"}, exitUsage, "", "--slots needs a ring REGION"},
		{"slots=0", []string{f.path, "s", "--slots=0"}, exitUsage, "", "want a number of positions"},
		{"bad flag", []string{f.path, "--bogus"}, exitUsage, "", "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(append([]string{"inspect"}, tc.args...)...)
			if code != tc.want {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.want, out, errOut)
			}
			for _, s := range []struct{ name, got, want string }{{"stdout", out, tc.wantStdout}, {"stderr", errOut, tc.wantStderr}} {
				if s.want == "" && s.got != "" && !(s.name == "stdout" && tc.want == exitOK) {
					t.Errorf("%s = %q, want empty", s.name, s.got)
				}
				if !strings.Contains(s.got, s.want) {
					t.Errorf("%s = %q, want it to contain %q", s.name, s.got, s.want)
				}
			}
		})
	}
	// A ring whose header is damaged: the entry is shown, then Open's
	// error, exit 1.
	v, err := ring.OpenView(f.a, "s")
	if err != nil {
		t.Fatal(err)
	}
	off := v.Offset()
	v.Close()
	b, _ = os.ReadFile(f.path)
	b[off+80] ^= 1 // ring CreatorPID: the ring header checksum fails
	damaged := filepath.Join(t.TempDir(), "ringdamage")
	if err := os.WriteFile(damaged, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd("inspect", damaged, "s")
	if code != exitFailure || !strings.Contains(errOut, "ring header checksum") {
		t.Errorf("damaged ring: exit %d, stderr %q", code, errOut)
	}
	if _, err := ring.OpenView(f.a, "raw"); !errors.Is(err, ring.ErrKind) {
		t.Errorf("OpenView of a raw region: %v", err)
	}
}
