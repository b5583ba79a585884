package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// Roles the ls, rm and gc tests start children in.
const (
	// roleHold creates (create=1) or opens the arena at path=, holds a
	// handle on its ring "jobs", prints ready=1 and waits to be killed.
	roleHold = "ls-hold"
	// roleCreate creates the arena at path= with the ring "jobs", closes
	// both and exits: the arena is left stale.
	roleCreate = "ls-create"
)

func init() {
	roles[roleHold] = func(args []string) error {
		a := xproc.ParseArgs(args)
		ar, r, err := openFixture(a["path"], a["create"] == "1")
		if err != nil {
			return err
		}
		defer ar.Close()
		defer r.Close()
		fmt.Println("ready=1")
		time.Sleep(time.Minute) // killed when the test ends
		return nil
	}
	roles[roleCreate] = func(args []string) error {
		ar, r, err := openFixture(xproc.ParseArgs(args)["path"], true)
		if err != nil {
			return err
		}
		r.Close()
		return ar.Close()
	}
}

var fixtureRing = ring.Config{Slots: 8, SlotSize: 64}

// openFixture creates (or opens) the arena at path with one SPSC ring
// "jobs", and returns a handle on the ring.
func openFixture(path string, create bool) (*arena.Arena, ring.Ring, error) {
	if !create {
		a, err := arena.Open(path)
		if err != nil {
			return nil, nil, err
		}
		r, err := ring.OpenSPSC(a, "jobs")
		if err != nil {
			a.Close()
			return nil, nil, err
		}
		return a, r, nil
	}
	size, err := ring.ArenaSize([]ring.Spec{{Kind: ring.KindSPSC, Config: fixtureRing}})
	if err != nil {
		return nil, nil, err
	}
	a, err := arena.Create(path, size)
	if err != nil {
		return nil, nil, err
	}
	r, err := ring.CreateSPSC(a, "jobs", fixtureRing)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, r, nil
}

// Offsets in the arena header (docs/layout.md) the fixtures edit.
const (
	hdrReservedOffset = 100 // inside the checksummed bytes [0,124)
	hdrStateOffset    = 128
)

// fixtures is a directory with one file in every state ls knows.
type fixtures struct {
	dir       string
	stalePID  int          // the exited creator of "stale" and "incomplete-pid"
	holder    *xproc.Child // holds "live-child"
	want      map[string]string
	removable []string // what gc must remove, sorted
	notArenas []string // what ls lists only with --all, sorted
}

// makeFixtures fills a new directory with:
//
//	corrupt           a stale arena with a checksummed header byte flipped
//	incomplete-blank  zeros, unchanged for a minute
//	incomplete-pid    a copy of stale not marked ready: its creator exited
//	initializing      a copy of live-self not marked ready: its creator
//	                  (this process) runs
//	link              a symlink to stale
//	live-child        created by a child that holds its ring open
//	live-self         created by this process, which holds its ring open
//	notes.txt         text
//	stale             created by a child that exited
//	subdir            a directory
func makeFixtures(t *testing.T) *fixtures {
	t.Helper()
	f := &fixtures{dir: t.TempDir()}
	path := func(name string) string { return filepath.Join(f.dir, name) }

	f.holder = xproc.StartT(t, roleHold, "path="+path("live-child"), "create=1")
	creator := xproc.StartT(t, roleCreate, "path="+path("stale"))
	if err := creator.WaitUntil(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	f.stalePID = creator.Pid()
	xproc.WaitFor(t, "the holder's ring", f.holder, func() bool { return xproc.Field(f.holder.Stdout(), "ready") == "1" })

	a, r, err := openFixture(path("live-self"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); a.Close() })

	stale := readFile(t, path("stale"))
	writeFile(t, path("incomplete-pid"), withUint32(stale, hdrStateOffset, 0))
	writeFile(t, path("initializing"), withUint32(readFile(t, path("live-self")), hdrStateOffset, 0))
	corrupt := bytes.Clone(stale)
	corrupt[hdrReservedOffset] ^= 0x5a
	writeFile(t, path("corrupt"), corrupt)
	writeFile(t, path("incomplete-blank"), make([]byte, 4096))
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path("incomplete-blank"), old, old); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path("notes.txt"), []byte("not an arena\n"))
	if err := os.Mkdir(path("subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path("stale"), path("link")); err != nil {
		t.Fatal(err)
	}
	f.want = map[string]string{
		"corrupt":          stateCorrupt,
		"incomplete-blank": stateIncomplete,
		"incomplete-pid":   stateIncomplete,
		"initializing":     stateInitializing,
		"link":             stateNotArena,
		"live-child":       stateLive,
		"live-self":        stateLive,
		"notes.txt":        stateNotArena,
		"stale":            stateStale,
		"subdir":           stateNotArena,
	}
	f.removable = []string{"incomplete-blank", "incomplete-pid", "stale"}
	f.notArenas = []string{"link", "notes.txt", "subdir"}
	return f
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func withUint32(b []byte, off int, v uint32) []byte {
	b = bytes.Clone(b)
	b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return b
}

// runCmd runs the command line and returns its exit status and output.
func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// lsRows parses ls's table into rows by name, each a map from column
// heading to cell. Columns are at least two spaces apart; cells contain
// single spaces at most.
func lsRows(t *testing.T, out string) (map[string]map[string]string, []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	sep := regexp.MustCompile(`\s{2,}`)
	head := sep.Split(strings.TrimSpace(lines[0]), -1)
	if head[0] != "NAME" {
		t.Fatalf("no heading line:\n%s", out)
	}
	rows := map[string]map[string]string{}
	var order []string
	for _, l := range lines[1:] {
		cells := sep.Split(strings.TrimSpace(l), -1)
		if len(cells) > len(head) {
			t.Fatalf("row has %d cells, heading %d: %q", len(cells), len(head), l)
		}
		row := map[string]string{}
		for i, c := range cells {
			row[head[i]] = c
		}
		rows[cells[0]] = row
		order = append(order, cells[0])
	}
	return rows, order
}

// TestLsStates lists a directory with a file in every state, as a table
// and as JSON, with and without --all, and checks each file's row.
func TestLsStates(t *testing.T) {
	f := makeFixtures(t)

	code, out, errOut := runCmd("ls", f.dir)
	if code != exitOK || errOut != "" {
		t.Fatalf("ls: exit %d, stderr %q", code, errOut)
	}
	t.Logf("shmring ls:\n%s", out)
	for i, line := range strings.Split(out, "\n") {
		if strings.TrimRight(line, " \t") != line {
			t.Errorf("line %d has trailing blanks: %q", i+1, line)
		}
	}
	rows, order := lsRows(t, out)
	var wantOrder []string
	for _, name := range sortedKeys(f.want) {
		if f.want[name] != stateNotArena {
			wantOrder = append(wantOrder, name)
		}
	}
	if fmt.Sprint(order) != fmt.Sprint(wantOrder) {
		t.Errorf("rows %v, want %v (sorted, no foreign files)", order, wantOrder)
	}
	for _, name := range wantOrder {
		if got := rows[name]["STATE"]; got != f.want[name] {
			t.Errorf("%s: state %q, want %q (row %v)", name, got, f.want[name], rows[name])
		}
	}
	if got := rows["live-child"]["CREATOR"]; got != fmt.Sprint(f.holder.Pid()) {
		t.Errorf("live-child: creator %q, want the holder's pid %d", got, f.holder.Pid())
	}
	if got := rows["stale"]["CREATOR"]; got != fmt.Sprintf("%d (gone)", f.stalePID) {
		t.Errorf("stale: creator %q, want %d (gone)", got, f.stalePID)
	}
	for name, want := range map[string]string{"live-child": "1", "live-self": "1", "stale": "0"} {
		if got := rows[name]["LIVE"]; got != want {
			t.Errorf("%s: live peers %q, want %s", name, got, want)
		}
	}
	for _, name := range []string{"live-child", "stale"} {
		if rows[name]["REGIONS"] != "1" || rows[name]["USED"] == "-" || rows[name]["SIZE"] == "" {
			t.Errorf("%s: row %v lacks its size, use or region count", name, rows[name])
		}
	}
	if d := rows["corrupt"]["DETAIL"]; !strings.Contains(d, "checksum") {
		t.Errorf("corrupt: detail %q does not name the checksum", d)
	}

	// --all adds the foreign files, with their reasons.
	code, out, _ = runCmd("ls", "--all", f.dir)
	if code != exitOK {
		t.Fatalf("ls --all: exit %d", code)
	}
	rows, order = lsRows(t, out)
	if fmt.Sprint(order) != fmt.Sprint(sortedKeys(f.want)) {
		t.Errorf("ls --all rows %v, want %v", order, sortedKeys(f.want))
	}
	for name, detail := range map[string]string{"link": "symbolic link", "subdir": "directory", "notes.txt": "magic"} {
		if rows[name]["STATE"] != stateNotArena || !strings.Contains(rows[name]["DETAIL"], detail) {
			t.Errorf("%s: row %v, want %q with a detail naming %q", name, rows[name], stateNotArena, detail)
		}
	}

	// JSON, flags after the argument.
	code, out, _ = runCmd("ls", f.dir, "--all", "--json")
	if code != exitOK {
		t.Fatalf("ls --json: exit %d", code)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	byName := map[string]map[string]any{}
	for _, o := range list {
		for _, k := range []string{"name", "path", "size", "used", "regions", "creator_pid", "live_peers", "state"} {
			if _, ok := o[k]; !ok {
				t.Errorf("object %v lacks %q", o, k)
			}
		}
		byName[o["name"].(string)] = o
	}
	if len(byName) != len(f.want) {
		t.Errorf("JSON has %d objects, want %d", len(byName), len(f.want))
	}
	for name, want := range f.want {
		if got := byName[name]["state"]; got != want {
			t.Errorf("JSON %s: state %v, want %q", name, got, want)
		}
	}
	stale := byName["stale"]
	if stale["creator_pid"] != float64(f.stalePID) || stale["creator_alive"] != false || stale["live_peers"] != float64(0) ||
		stale["regions"] != float64(1) || stale["path"] != filepath.Join(f.dir, "stale") || stale["created"] == nil {
		t.Errorf("JSON stale: %v", stale)
	}
	if size, _ := stale["size"].(float64); size < 4096 || int64(size)%int64(os.Getpagesize()) != 0 {
		t.Errorf("JSON stale: size %v is not a page multiple in bytes", stale["size"])
	}
	if live := byName["live-child"]; live["live_peers"] != float64(1) || live["creator_alive"] != true || live["live_locked"] != true {
		t.Errorf("JSON live-child: %v", live)
	}
	if byName["initializing"]["creator_pid"] != float64(os.Getpid()) {
		t.Errorf("JSON initializing: %v", byName["initializing"])
	}

	// Once the holder is gone, live-child is stale: its peer died with it.
	f.holder.Kill()
	code, out, _ = runCmd("ls", f.dir)
	rows, _ = lsRows(t, out)
	if code != exitOK || rows["live-child"]["STATE"] != stateStale || rows["live-child"]["LIVE"] != "0" {
		t.Errorf("after the holder was killed: exit %d, live-child %v", code, rows["live-child"])
	}
}

// TestLsEmptyAndMissing: an empty directory lists nothing (and [] in
// JSON) with exit 0; a missing one, or a file given as DIR, exits 1; a
// second argument exits 2.
func TestLsEmptyAndMissing(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCmd("ls", dir); code != exitOK || out != "" || errOut != "" {
		t.Errorf("empty dir: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, _ := runCmd("ls", "--json", dir); code != exitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty dir --json: exit %d, stdout %q", code, out)
	}
	missing := filepath.Join(dir, "missing")
	if code, out, errOut := runCmd("ls", missing); code != exitFailure || out != "" || !strings.Contains(errOut, "cannot read") {
		t.Errorf("missing dir: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	file := filepath.Join(dir, "file")
	writeFile(t, file, []byte("x"))
	if code, _, errOut := runCmd("ls", file); code != exitFailure || !strings.Contains(errOut, "not a directory") {
		t.Errorf("file as dir: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := runCmd("ls", dir, dir); code != exitUsage {
		t.Errorf("two dirs: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := runCmd("ls", "--bogus"); code != exitUsage {
		t.Errorf("bad flag: exit %d, want %d", code, exitUsage)
	}
}

// TestLsHostileNames: names with control characters are quoted, so a file
// name cannot write escape sequences to the operator's terminal or break
// the table.
func TestLsHostileNames(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "evil\x1b[2J\nname"), []byte("x"))
	code, out, _ := runCmd("ls", "--all", dir)
	if code != exitOK || strings.ContainsAny(out, "\x1b") || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"evil\x1b[2J\nname"`) {
		t.Errorf("exit %d, output %q", code, out)
	}
}

// TestLsCreatorLiveness: the creator test takes the start time into
// account, so a pid that now names a process started after the arena
// was created counts as dead.
func TestLsCreatorLiveness(t *testing.T) {
	self := os.Getpid()
	if !processAlive(self, time.Now()) {
		t.Error("this process, for an arena created now: dead")
	}
	if !processAlive(self, time.Time{}) {
		t.Error("this process, creation time unknown: dead")
	}
	if runtime.GOOS == "linux" && processAlive(self, time.Now().Add(-time.Hour)) {
		t.Error("this process, for an arena created an hour before it started: alive (a reused pid)")
	}
	for _, pid := range []int{0, -1, maxPID + 1} {
		if processAlive(pid, time.Time{}) {
			t.Errorf("pid %d: alive", pid)
		}
	}
	c := xproc.StartT(t, roleCreate, "path="+filepath.Join(t.TempDir(), "a"))
	if err := c.WaitUntil(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if processAlive(c.Pid(), time.Time{}) {
		t.Errorf("exited child %d: alive", c.Pid())
	}
}

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0B"}, {1023, "1023B"}, {1024, "1K"}, {1536, "1.5K"}, {65536, "64K"}, {100 << 20, "100M"}, {3 << 30, "3G"}} {
		if got := humanBytes(tc.n); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// TestBlankFileHeldIsKept: a zero-filled file names no creator and may be
// another program's shared memory: while a process holds it open (here a
// child with it as stdin), it is not incomplete and gc keeps it, however
// old; once nobody holds it, it is incomplete and gc removes it.
func TestBlankFileHeldIsKept(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "blank")
	writeFile(t, p, make([]byte, 8192))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	child := exec.Command("sleep", "30")
	child.Stdin = f
	if err := child.Start(); err != nil {
		t.Skipf("no sleep command: %v", err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	code, out, errOut := runCmd("ls", "--json", dir)
	if code != 0 || !strings.Contains(out, `"state": "initializing"`) || !strings.Contains(out, fmt.Sprintf("pid %d", child.Process.Pid)) {
		t.Fatalf("ls of a blank file held by pid %d: exit %d\n%s%s", child.Process.Pid, code, out, errOut)
	}
	if code, out, errOut := runCmd("gc", dir); code != 0 {
		t.Fatalf("gc: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("gc removed a blank file another process holds: %v", err)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	f.Close()
	if code, out, _ := runCmd("ls", "--json", dir); code != 0 || !strings.Contains(out, `"state": "incomplete"`) {
		t.Fatalf("ls once nobody holds it: exit %d\n%s", code, out)
	}
	if code, _, _ := runCmd("gc", dir); code != 0 {
		t.Fatal("gc failed")
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("gc kept an abandoned blank file")
	}
}
