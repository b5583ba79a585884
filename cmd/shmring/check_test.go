package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/seed"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// TestCheckHealthy: an arena with a ring of each kind, live handles and
// traffic flowing through two of them while check runs, is healthy: exit
// 0, an "ok" line and nothing else, and in JSON ok with an empty problem
// list.
func TestCheckHealthy(t *testing.T) {
	f := newInspectFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, name := range []string{"s", "m"} {
		r := f.rings[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf [64]byte
			for ctx.Err() == nil {
				_ = r.TryPush([]byte("traffic"))
				_, _ = r.TryPop(buf[:])
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	code, out, errOut := runCmd("check", f.path)
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if want := fmt.Sprintf("ok: %s: 4 regions, 3 rings, no problems\n", f.path); !strings.HasSuffix(out, want) {
		t.Errorf("stdout %q, want it to end with %q", out, want)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "ok: ") && !strings.HasPrefix(line, "note: ") {
			t.Errorf("unexpected line %q", line)
		}
	}
	code, out, _ = runCmd("check", "--json", f.path)
	if code != exitOK {
		t.Fatalf("--json: exit %d: %s", code, out)
	}
	var rep checkReport
	decodeStrict(t, out, &rep)
	if !rep.OK || rep.Problems == nil || len(rep.Problems) != 0 || rep.Rings != 3 || rep.Regions != 4 || rep.Arena != f.path {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(out, `"problems": []`) {
		t.Errorf("problems is not an empty list:\n%s", out)
	}
}

// checkImage is a copy of the fixture's file taken while its handles
// were attached (so peer entries are occupied; in the copy, whose
// liveness locks nobody holds, they read as dead), with the offsets of
// the words the damage cases plant into.
type checkImage struct {
	file []byte
	ring map[string]checkRingOffsets
}

// checkRingOffsets are a ring's offset in the file and, from the ring, its
// fields (View.Header names), its peer entries and its slots.
type checkRingOffsets struct {
	base   int64
	fields map[string]int64
	peer   func(i int) int64
	slot   func(pos uint64) int64
}

func newCheckImage(t *testing.T) *checkImage {
	t.Helper()
	f := newInspectFixture(t)
	file, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	img := &checkImage{file: file, ring: map[string]checkRingOffsets{}}
	for _, name := range []string{"s", "m", "b"} {
		v, err := ring.OpenView(f.a, name)
		if err != nil {
			t.Fatal(err)
		}
		ro := checkRingOffsets{base: v.Offset(), fields: map[string]int64{}, peer: v.PeerOffset}
		for _, fl := range v.Header() {
			ro.fields[fl.Name] = fl.Offset
		}
		ro.slot = func(pos uint64) int64 { return v.Slots(pos, 1)[0].Offset }
		t.Cleanup(func() { v.Close() })
		img.ring[name] = ro
	}
	return img
}

// write writes a copy of the image, changed by damage, and returns its
// path.
func (img *checkImage) write(t *testing.T, damage func(b []byte) []byte) string {
	t.Helper()
	b := damage(append([]byte(nil), img.file...))
	p := filepath.Join(t.TempDir(), "damaged")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var checkCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkEntryOff returns the file offset of directory entry i (docs/layout.md).
func checkEntryOff(i int) int64 { return arena.HeaderSize + int64(i)*arena.DirEntrySize }

// checkFixEntry recomputes directory entry i's checksum: CRC-32C of its bytes
// [0,120), at 120 (docs/layout.md).
func checkFixEntry(b []byte, i int) {
	e := b[checkEntryOff(i) : checkEntryOff(i)+arena.DirEntrySize]
	binary.LittleEndian.PutUint32(e[120:], crc32.Checksum(e[:120], checkCastagnoli))
}

func checkPut32(b []byte, off int64, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func checkPut64(b []byte, off int64, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
func checkGet64(b []byte, off int64) uint64    { return binary.LittleEndian.Uint64(b[off:]) }

// TestCheckDamage plants one fault at a time into a copy of a valid file
// and expects exit 1, a problem line at the fault's file offset (hex and
// decimal) naming its field, and the summary; and the same problem in the
// JSON.
func TestCheckDamage(t *testing.T) {
	img := newCheckImage(t)
	s, m, bc := img.ring["s"], img.ring["m"], img.ring["b"]
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		off    int64
		where  string
		msg    string
	}{
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, 0, "header.Magic", "not an arena"},
		{"version", func(b []byte) []byte { b[8] = 7; return b }, 8, "header.VersionMajor", "unsupported layout version"},
		{"header checksum", func(b []byte) []byte { b[68] ^= 0x10; return b }, 124, "header.Checksum", "checksum"},
		{"truncated file", func(b []byte) []byte { return b[:len(b)/2] }, 32, "header.TotalSize", "truncated"},
		{"entry outside the data area", func(b []byte) []byte {
			checkPut64(b, checkEntryOff(1)+64, 4096) // Offset: below DataOffset
			checkFixEntry(b, 1)
			return b
		}, checkEntryOff(1) + 64, "dir[1].Offset", "outside data area"},
		{"overlapping entries", func(b []byte) []byte {
			checkPut64(b, checkEntryOff(2)+64, checkGet64(b, checkEntryOff(1)+64)+128) // "m" starts inside "s"
			checkFixEntry(b, 2)
			return b
		}, checkEntryOff(2) + 64, "dir[2].Offset", "overlap"},
		{"ring header checksum", func(b []byte) []byte { b[s.base+80] ^= 1; return b }, s.base + 120, "[s] Checksum", "ring header checksum"},
		{"consumer ahead of producer", func(b []byte) []byte {
			checkPut64(b, s.base+s.fields["cons.Pos"], checkGet64(b, s.base+s.fields["prod.Pos"])+3)
			return b
		}, s.base + s.fields["cons.Pos"], "[s] cons.Pos", "ahead of the producer"},
		{"slot seq", func(b []byte) []byte { checkPut32(b, s.base+s.slot(3)+4, 77); return b }, s.base + s.slot(3), "[s] slot[3].Seq", "sequence 77"},
		{"mpmc slot seq", func(b []byte) []byte { checkPut64(b, m.base+m.slot(2), 999); return b }, m.base + m.slot(2), "[m] slot[2].Seq", "fits no state"},
		{"peer roles", func(b []byte) []byte { checkPut32(b, s.base+s.peer(1)+4, 1<<9); return b }, s.base + s.peer(1) + 4, "[s] peer[1].Roles", "unknown role bits"},
		{"subscriber roles", func(b []byte) []byte { checkPut32(b, bc.base+bc.peer(16)+4, 1); return b }, bc.base + bc.peer(16) + 4, "[b] peer[16].Roles", "subscriber entry"},
		{"dead sleeper", func(b []byte) []byte {
			checkPut32(b, s.base+s.peer(1)+120, 1) // SleepingEmpty
			checkPut32(b, s.base+s.fields["prod.NotEmptyWaiters"], 1)
			return b
		}, s.base + s.peer(1) + 120, "[s] peer[1].SleepingEmpty", "needs Recover"},
		{"sleeper nobody accounts for", func(b []byte) []byte {
			checkPut32(b, m.base+m.fields["cons.NotFullWaiters"], 2)
			return b
		}, m.base + m.fields["cons.NotFullWaiters"], "[m] cons.NotFullWaiters", "no peer entry accounts for"},
		{"dead mpmc tagged claim", func(b []byte) []byte {
			// Position 5 (cons 1, prod 6) claimed by entry 1 as a producer
			// and tagged, not committed.
			gen := binary.LittleEndian.Uint32(b[m.base+m.peer(1)+60:])
			checkPut64(b, m.base+m.slot(5), 5)
			checkPut32(b, m.base+m.slot(5)+12, 1|0<<11|gen<<15)
			return b
		}, m.base + m.slot(5) + 12, "[m] slot[5].Owner", "claimed by dead peer 1"},
		{"dead mpmc claim", func(b []byte) []byte { checkPut64(b, m.base+m.peer(1)+16, 1+4); return b }, m.base + m.peer(1) + 16, "[m] peer[1].ProdClaim", "producer claim from position 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // most of the time is check waiting out its ready timeout
			p := img.write(t, tc.damage)
			code, out, errOut := runCmd("check", p)
			t.Logf("shmring check:\n%s%s", out, errOut)
			if code != exitFailure {
				t.Errorf("exit %d, want %d", code, exitFailure)
			}
			if errOut != "" {
				t.Errorf("stderr %q", errOut)
			}
			re := regexp.MustCompile(fmt.Sprintf(`(?m)^%#x\s+%d\s+%s\s+.*%s`, tc.off, tc.off, regexp.QuoteMeta(tc.where), regexp.QuoteMeta(tc.msg)))
			if !re.MatchString(out) {
				t.Errorf("no line %q", re)
			}
			if !regexp.MustCompile(`(?m)^\d+ problems? in \d+ regions? of `).MatchString(out) {
				t.Errorf("no summary line")
			}
			code, out, _ = runCmd("check", p, "--json")
			var rep checkReport
			decodeStrict(t, out, &rep)
			found := false
			for _, pr := range rep.Problems {
				found = found || pr.Offset == tc.off && pr.where() == tc.where && strings.Contains(pr.Message, tc.msg)
			}
			if code != exitFailure || rep.OK || !found {
				t.Errorf("JSON: exit %d, %+v", code, rep)
			}
		})
	}
}

// TestCheckExits: what check does with command lines and files it cannot
// read.
func TestCheckExits(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign")
	if err := os.WriteFile(foreign, []byte("not an arena at all, just some text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		want       int
		wantStdout string
		wantStderr string
	}{
		{"no arguments", nil, exitUsage, "", "missing ARENA"},
		{"two arguments", []string{"a", "b"}, exitUsage, "", `unexpected argument "b"`},
		{"bad flag", []string{"a", "--slots"}, exitUsage, "", "flag provided but not defined"},
		{"missing file", []string{filepath.Join(dir, "nosuch")}, exitFailure, "", "not found"},
		{"symlink", []string{link}, exitFailure, "", "symbolic link"},
		{"directory", []string{dir}, exitFailure, "", "not a regular file"},
		{"foreign file", []string{foreign}, exitFailure, "header.Magic", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(append([]string{"check"}, tc.args...)...)
			if code != tc.want {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.want, out, errOut)
			}
			for _, s := range []struct{ name, got, want string }{{"stdout", out, tc.wantStdout}, {"stderr", errOut, tc.wantStderr}} {
				if s.want == "" && s.got != "" {
					t.Errorf("%s = %q, want empty", s.name, s.got)
				}
				if !strings.Contains(s.got, s.want) {
					t.Errorf("%s = %q, want it to contain %q", s.name, s.got, s.want)
				}
			}
		})
	}
}

// TestCheckGarbage flips random bytes of a valid file (with live-looking
// peer tables) and runs check and inspect on each copy: they must never
// panic or hang, and check must name every problem inside the file. The
// loop is bounded in time; SHMRING_SEED replays it.
func TestCheckGarbage(t *testing.T) {
	img := newCheckImage(t)
	rng := rand.New(rand.NewPCG(seed.Test(t), 0))
	deadline := time.Now().Add(2 * time.Second)
	p := filepath.Join(t.TempDir(), "garbage")
	n := 0
	for ; time.Now().Before(deadline); n++ {
		b := append([]byte(nil), img.file...)
		flips := 1 + rng.IntN(8)
		for i := 0; i < flips; i++ {
			// Mostly the header, directory and rings, where the checks are.
			end := len(b)
			if rng.IntN(4) != 0 {
				end = min(len(b), 32<<10)
			}
			b[rng.IntN(end)] ^= byte(1 + rng.IntN(255))
		}
		if rng.IntN(16) == 0 {
			b = b[:rng.IntN(len(b))]
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := gatherCheck(p, 0)
		if err != nil {
			t.Fatalf("check of a regular file failed: %v", err)
		}
		for _, pr := range rep.Problems {
			if pr.Offset < 0 || pr.Offset > int64(len(img.file)) || pr.Message == "" || pr.Field == "" {
				t.Fatalf("problem %+v (file of %d bytes)", pr, len(b))
			}
		}
		if a, err := arena.Open(p, arena.ReadOnly(), arena.WithReadyTimeout(0)); err == nil {
			for _, name := range []string{"", "s", "m", "b", "raw"} {
				_, _ = gatherInspect(a, name, 4)
			}
			a.Close()
		}
	}
	t.Logf("%d damaged files checked", n)
}

// TestCheckDeadSleeper: a consumer asleep in Pop in another process is
// healthy; killed while asleep, it leaves a sleeper registration in its peer entry; check reports it
// as needing Recover, and once a handle's Recover has run, the arena is
// healthy again.
func TestCheckDeadSleeper(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sleeper")
	a, err := arena.Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	prod, err := ring.Create(a, "q", ring.KindSPSC, ring.Config{Slots: 8, SlotSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	child := xproc.StartT(t, checkSleeperRole, "path="+p, "ring=q")
	v, err := ring.OpenView(a, "q")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	xproc.WaitFor(t, "the consumer to sleep", child, func() bool { return v.Positions().NotEmptyWaiters == 1 })
	// A live sleeper is no problem.
	if code, out, _ := runCmd("check", p); code != exitOK {
		t.Fatalf("with the consumer asleep: exit %d\n%s", code, out)
	}
	child.Kill()

	code, out, _ := runCmd("check", p)
	if code != exitFailure || !regexp.MustCompile(`\[q\] peer\[\d+\]\.SleepingEmpty\s+dead peer \(pid \d+\) left 1 sleeper registration in NotEmptyWaiters: needs Recover`).MatchString(out) {
		t.Fatalf("after the kill: exit %d\n%s", code, out)
	}
	if rec := prod.Recover(); rec.Sleepers != 1 {
		t.Fatalf("Recover: %+v", rec)
	}
	if code, out, _ := runCmd("check", p); code != exitOK {
		t.Fatalf("after Recover: exit %d\n%s", code, out)
	}
}

// checkSleeperRole attaches to a ring as its consumer and sleeps in Pop
// until killed.
const checkSleeperRole = "check-sleeper"

func init() {
	roles[checkSleeperRole] = func(args []string) error {
		kv := xproc.ParseArgs(args)
		a, err := arena.Open(kv["path"])
		if err != nil {
			return err
		}
		r, err := ring.Open(a, kv["ring"])
		if err != nil {
			return err
		}
		r.SetWaitStrategy(ring.WaitBlock)
		var buf [64]byte
		_, err = r.Pop(context.Background(), buf[:])
		return fmt.Errorf("Pop returned: %v", err)
	}
}

// TestPeerWordOffsets pins the offsets check reads that ring.Peer and
// ring.SlotHeader do not carry to docs/ring.md's peerEntry and mpmcSlot
// tables (which ring/layout_test.go pins to the structs), and the Owner
// tag's bits to the table's description of them.
func TestPeerWordOffsets(t *testing.T) {
	doc, err := os.ReadFile("../../docs/ring.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile("^#+ .*?`(\\w+)`")
	row := regexp.MustCompile("^\\|\\s*(\\d+)\\s*\\|\\s*\\w+\\s*\\|\\s*`(\\w+)`")
	got := map[string]int{}
	table := ""
	sc := bufio.NewScanner(strings.NewReader(string(doc)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			table = ""
			if m := heading.FindStringSubmatch(line); m != nil {
				table = m[1]
			}
			continue
		}
		if m := row.FindStringSubmatch(line); table != "" && m != nil {
			off, _ := strconv.Atoi(m[1])
			got[table+"."+m[2]] = off
		}
	}
	for name, want := range map[string]int{
		"peerEntry.ProdClaim": peerProdClaim, "peerEntry.SleepingFull": peerSleepingFull,
		"peerEntry.ConsClaim": peerConsClaim, "peerEntry.SleepingEmpty": peerSleepingEmpty,
		"peerEntry.Generation": peerGeneration, "mpmcSlot.Owner": mpmcSlotOwner,
	} {
		if off, ok := got[name]; !ok || off != want {
			t.Errorf("docs/ring.md %s at %d (found %v), check reads %d", name, off, ok, want)
		}
	}
	tagDoc := fmt.Sprintf("bits 0..%d the peer-table index, bit %d set for a consumer's claim, bits %d..%d the lap of the claimed position (`pos / Slots mod %d`), bits %d..31 the entry's `Generation` (mod 2^%d)",
		bitsOf(tagIdxMask)-1, bitsOf(tagConsumer-1), tagLapShift, tagLapShift+bitsOf(tagLapMask)-1, tagLapMask+1, tagGenShift, bitsOf(tagGenMask))
	if !strings.Contains(string(doc), tagDoc) {
		t.Errorf("docs/ring.md does not describe the Owner tag as check reads it: %q", tagDoc)
	}
}

// bitsOf is the number of bits of a mask of ones.
func bitsOf(mask int) int {
	n := 0
	for ; mask != 0; mask >>= 1 {
		n++
	}
	return n
}
