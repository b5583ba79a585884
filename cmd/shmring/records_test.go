package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// roleHoldRecords opens the arena at path= and its record ring "frames",
// prints ready=1 and waits to be killed.
const roleHoldRecords = "records-hold"

func init() {
	roles[roleHoldRecords] = func(args []string) error {
		a, err := arena.Open(xproc.ParseArgs(args)["path"])
		if err != nil {
			return err
		}
		defer a.Close()
		r, err := ring.OpenRecords(a, "frames")
		if err != nil {
			return err
		}
		defer r.Close()
		fmt.Println("ready=1")
		time.Sleep(time.Minute) // killed when the test ends
		return nil
	}
}

// recordsFixture is an arena holding the record ring "frames" (4 KiB of
// records up to 1 KiB) with three records pushed, the first consumed, and
// a reservation outstanding.
type recordsFixture struct {
	path     string
	a        *arena.Arena
	frames   *ring.Records
	res      ring.Reservation
	mirrored bool
}

func newRecordsFixture(t *testing.T) *recordsFixture {
	t.Helper()
	cfg := ring.Config{Capacity: 4096, SlotSize: 1024}
	size, err := ring.ArenaSize([]ring.Spec{{Kind: ring.KindRecords, Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	f := &recordsFixture{path: filepath.Join(t.TempDir(), "frames")}
	if f.a, err = arena.Create(f.path, size); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.a.Close() })
	if f.frames, err = ring.CreateRecords(f.a, "frames", cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.frames.Close() })
	f.mirrored = f.frames.Mirrored()
	for _, m := range []string{"first", "second frame", strings.Repeat("x", 700)} {
		if err := f.frames.TryPush([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1024)
	if _, err := f.frames.TryPop(buf); err != nil {
		t.Fatal(err)
	}
	if f.res, err = f.frames.TryReserve(100); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestRecordsStat: stat reports a record ring's kind, byte capacity, bytes
// used, records by state, largest record and mirroring, in JSON and text.
func TestRecordsStat(t *testing.T) {
	f := newRecordsFixture(t)
	rep := runStatJSON(t, f.path)
	if len(rep.Rings) != 1 {
		t.Fatalf("rings %+v", rep.Rings)
	}
	r := rep.Rings[0]
	// In the ring: "second frame" (12+16 -> 32 bytes), 700 (716 -> 720),
	// the reservation (116 -> 128).
	want := recordsReport{Capacity: 4096, Used: 32 + 720 + 128, Mirrored: f.mirrored, MaxRecord: 1024,
		Committed: 2, Busy: 1, Largest: 700, Complete: true}
	if r.Kind != "records" || r.Slots != 0 || r.SlotSize != 1024 || r.Depth != 2 || r.MessagesIn != 3 || r.MessagesOut != 1 ||
		r.Records == nil || *r.Records != want {
		t.Fatalf("stat: %+v records %+v, want %+v", r, r.Records, want)
	}
	code, out, errOut := runCmd("stat", f.path)
	if code != exitOK {
		t.Fatalf("stat: exit %d: %s", code, errOut)
	}
	for _, s := range []string{"frames  records  4.0 KiB, records up to 1.0 KiB", "depth       2 records  880 B of 4.0 KiB used",
		"in ring     2 committed  1 busy  0 skip  0 padding  largest 700 B"} {
		if !strings.Contains(out, s) {
			t.Errorf("stat text lacks %q:\n%s", s, out)
		}
	}
	if f.mirrored != strings.Contains(out, ", mirrored") {
		t.Errorf("stat text says mirrored wrongly (mirrored %v):\n%s", f.mirrored, out)
	}
	// A reservation of a handle gone without committing it: Recover makes
	// it a skip record, which stat counts as skipped.
	r2, err := ring.OpenRecords(f.a, "frames")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.TryReserve(10); err != nil {
		t.Fatal(err)
	}
	r2.Close()
	if rec := f.frames.Recover(); rec.Skipped != 1 {
		t.Fatalf("Recover %+v", rec)
	}
	if r := runStatJSON(t, f.path).Rings[0]; r.Skipped != 1 || r.Records.Skip != 1 || r.Records.Busy != 1 {
		t.Errorf("after Recover: skipped %d, records %+v", r.Skipped, r.Records)
	}
}

// TestRecordsInspect: inspect shows a record ring's header fields (the
// record ones at their offsets), its usage, and with --slots its records.
func TestRecordsInspect(t *testing.T) {
	f := newRecordsFixture(t)
	code, out, errOut := runCmd("inspect", "--json", f.path, "frames", "--slots", "10")
	if code != exitOK {
		t.Fatalf("inspect: exit %d: %s", code, errOut)
	}
	var rep inspectReport
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatal(err)
	}
	r := rep.Ring
	if r == nil || r.Kind != "records" || r.Usage == nil || r.Usage.Capacity != 4096 || r.Usage.Committed != 2 {
		t.Fatalf("ring %+v", r)
	}
	fields := map[string]inspectField{}
	for _, fl := range r.Header {
		fields[fl.Name] = fl
	}
	prod := fields["prod.Pos"].Offset
	for name, off := range map[string]int64{"DataAlign": 100, "Capacity": 104, "prod.ClaimLock": prod + 16, "prod.HeadCache": prod + 24} {
		if fl, ok := fields[name]; !ok || fl.Offset != off || fl.FileOffset != r.Offset+off {
			t.Errorf("field %s = %+v, want offset %d", name, fl, off)
		}
	}
	if fields["Capacity"].Value != 4096 {
		t.Errorf("Capacity field %+v", fields["Capacity"])
	}
	var got []string
	for _, rec := range r.Records {
		got = append(got, fmt.Sprintf("%d %s %s %d %d", rec.Pos, rec.At, rec.State, rec.Size, rec.Len))
	}
	want := []string{"32 cons+0 message 32 12", "64 cons+32 message 720 700", "784 cons+752 busy 128"}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || !strings.HasPrefix(got[2], want[2]) {
		t.Errorf("records %q, want %q", got, want)
	}
	if r.Records[0].Preview != `"second frame"` || r.Records[2].OwnerGone || r.Records[2].Entry == 0 {
		t.Errorf("records %+v", r.Records)
	}
	if r.SlotHeaders != nil {
		t.Errorf("slot headers on a record ring: %+v", r.SlotHeaders)
	}
	code, out, _ = runCmd("inspect", f.path, "frames", "--slots")
	for _, s := range []string{`ring "frames": records, 4096 bytes of records up to 1024 bytes`, "used", "880", "records from the consumer position",
		"prod.ClaimLock", "prod.HeadCache", `"second frame"`} {
		if code != exitOK || !strings.Contains(out, s) {
			t.Errorf("inspect text (exit %d) lacks %q:\n%s", code, s, out)
		}
	}
}

// TestRecordsCheck: check passes a healthy record ring (its live
// reservation included), names a busy record of a gone handle and a claim
// lock it left (exit 1), and passes again after Recover.
func TestRecordsCheck(t *testing.T) {
	f := newRecordsFixture(t)
	code, out, errOut := runCmd("check", f.path)
	if code != exitOK || !strings.Contains(out, "ok: ") || !strings.Contains(out, "1 ring") {
		t.Fatalf("check of a healthy record ring: exit %d\n%s%s", code, out, errOut)
	}
	r2, err := ring.OpenRecords(f.a, "frames")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.TryReserve(10); err != nil {
		t.Fatal(err)
	}
	r2.Close()
	code, out, _ = runCmd("check", "--json", f.path)
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code != exitFailure || rep.OK || len(rep.Problems) != 1 || !strings.HasPrefix(rep.Problems[0].Field, "record[") ||
		!strings.Contains(rep.Problems[0].Message, "needs Recover") {
		t.Fatalf("check with a gone handle's reservation: exit %d %+v", code, rep)
	}
	f.frames.Recover()
	if code, out, _ := runCmd("check", f.path); code != exitOK {
		t.Fatalf("check after Recover: exit %d\n%s", code, out)
	}
}

// TestRecordsTail: tail prints a record ring's records without consuming
// them (the consumer's counts and the peer table stay as they were):
// --from oldest those still to be released, then what is committed after,
// in order, passing skip records.
func TestRecordsTail(t *testing.T) {
	f := newRecordsFixture(t)
	copy(f.res.Buf, "fifth")
	if err := f.frames.Commit(f.res, 5); err != nil {
		t.Fatal(err)
	}
	before := inspect(t, f.a, "frames")
	done, stdout, stderr := startTail(f.path, "frames", "--from", "oldest", "-n", "6", "--json")
	waitUntil(t, "tail's first three records", func() bool { return strings.Count(stdout.String(), "\n") >= 3 })
	// A reservation abandoned by its handle, made a skip record by
	// Recover, then two more records.
	r2, err := ring.OpenRecords(f.a, "frames")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.TryReserve(10); err != nil {
		t.Fatal(err)
	}
	r2.Close()
	f.frames.Recover()
	for _, m := range []string{"after 1", "after 2", "after 3"} {
		if err := f.frames.TryPush([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if code := tailExit(t, done, stderr); code != exitOK {
		t.Fatalf("tail: exit %d: %s", code, stderr.String())
	}
	var got []string
	dec := json.NewDecoder(strings.NewReader(stdout.String()))
	for dec.More() {
		var m tailMessage
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%.12s", m.Pos, m.Data))
	}
	// The skip record (10 -> 32 bytes) at 912 is passed.
	want := []string{"32:second frame", "64:xxxxxxxxxxxx", "784:fifth", "944:after 1", "976:after 2", "1008:after 3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("tail: %q, want %q", got, want)
	}
	if after := inspect(t, f.a, "frames"); after.MsgsOut != before.MsgsOut || after.Peers != before.Peers {
		t.Errorf("tail changed the ring: %+v, was %+v", after, before)
	}
	if stderr.String() != "" {
		t.Errorf("stderr: %s", stderr.String())
	}
}

// TestRecordsTailPassed: records the consumer releases before tail reads
// them are reported lost on stderr, and tail goes on from the consumer.
func TestRecordsTailPassed(t *testing.T) {
	f := newRecordsFixture(t)
	if err := f.frames.Commit(f.res, 0); err != nil {
		t.Fatal(err)
	}
	ro, err := arena.Open(f.path, arena.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	v, err := ring.OpenView(ro, "frames")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	from := v.Positions().Consumer
	// Consume everything, then push one more: a reader still at the old
	// consumer position has lost three records (32+720+128 bytes).
	if n, err := f.frames.Discard(-1); err != nil || n != 3 {
		t.Fatalf("Discard = %d, %v", n, err)
	}
	if err := f.frames.TryPush([]byte("late")); err != nil {
		t.Fatal(err)
	}
	var pe *ring.PassedError
	if _, _, err := v.ReadRecord(from, nil); !errors.As(err, &pe) || pe.Consumer != from+32+720+128 {
		t.Errorf("ReadRecord(%d) = %v", from, err)
	}
	// Tail from the consumer position prints the new record and no loss.
	var out, errOut bytes.Buffer
	if err := tailRecords(t.Context(), v, &out, &errOut, tailOptions{format: "text", limit: 1, from: ring.Oldest}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "late\n" || errOut.String() != "" {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

// TestRecordsLsRm: ls counts a record ring and its peers; rm refuses an
// arena while another process holds a record ring handle in it.
func TestRecordsLsRm(t *testing.T) {
	f := newRecordsFixture(t)
	f.frames.Commit(f.res, 0)
	f.frames.Close()
	f.a.Close()
	c := xproc.StartT(t, roleHoldRecords, "path="+f.path)
	xproc.WaitFor(t, "the holder's ring", c, func() bool { return xproc.Field(c.Stdout(), "ready") == "1" })
	code, out, _ := runCmd("ls", "--json", filepath.Dir(f.path))
	var ents []struct {
		Name      string `json:"name"`
		Rings     int    `json:"rings"`
		LivePeers int    `json:"live_peers"`
	}
	if err := json.Unmarshal([]byte(out), &ents); err != nil || code != exitOK {
		t.Fatalf("ls --json: exit %d %v\n%s", code, err, out)
	}
	if len(ents) != 1 || ents[0].Rings != 1 || ents[0].LivePeers != 1 {
		t.Errorf("ls: %+v", ents)
	}
	code, _, errOut := runCmd("rm", f.path)
	if code != exitFailure || !strings.Contains(errOut, fmt.Sprintf("pid %d  ring frames", c.Pid())) {
		t.Errorf("rm of an arena with a live record ring handle: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(f.path); err != nil {
		t.Errorf("rm removed it: %v", err)
	}
}
