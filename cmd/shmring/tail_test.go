package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

func init() {
	roles["tail-producer"] = tailProducerRole
}

// tailProducerRole opens the broadcast ring ring= of arena=, waits for a
// subscriber, pushes count= messages "remote N" and closes, which ends the
// stream.
func tailProducerRole(args []string) error {
	kv := xproc.ParseArgs(args)
	a, err := arena.Open(kv["arena"])
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := ring.OpenBroadcast(a, kv["ring"])
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); len(b.Subscribers()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("no subscriber came")
		}
	}
	for i := range kv.Int("count") {
		if err := b.TryPush([]byte(fmt.Sprintf("remote %d", i))); err != nil {
			return err
		}
	}
	return b.Close()
}

// startTail runs shmring tail with args in a goroutine; the channel gets
// its exit status.
func startTail(args ...string) (<-chan int, *syncBuffer, *syncBuffer) {
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(append([]string{"tail"}, args...), &stdout, &stderr) }()
	return done, &stdout, &stderr
}

// tailExit waits a few seconds for a tail started by startTail.
func tailExit(t *testing.T, done <-chan int, stderr *syncBuffer) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(5 * time.Second):
		t.Fatalf("tail still running after 5s; stderr: %s", stderr.String())
		return 0
	}
}

// waitSubscribers waits until the feed ring has n live lossy subscribers
// with their role marked, which a joining subscriber does after it has set
// its first cursor (so that, joined at Oldest, it reads every message
// pushed from then on; joined at Newest, it may still move its cursor past
// messages pushed until Subscribe returns).
func waitSubscribers(t *testing.T, b *ring.Broadcast, n int) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d subscribers", n), func() bool {
		joined := 0
		for _, s := range b.Subscribers() {
			if s.Alive && s.Lossy {
				joined++
			}
		}
		return joined == n
	})
}

func push(t *testing.T, b *ring.Broadcast, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if err := b.TryPush([]byte(m)); err != nil {
			t.Fatalf("TryPush(%q): %v", m, err)
		}
	}
}

// TestTailNewest: tail shows what is pushed after it joined, never what
// was pushed before, stops after -n messages with exit status 0, and frees
// its entry. (When exactly Subscribe returns is not visible from outside,
// so the test pushes until tail has had its three messages.)
func TestTailNewest(t *testing.T) {
	f := newStatFixture(t)
	push(t, f.feed, "before")
	done, stdout, stderr := startTail(f.path, "feed", "-n", "3")
	waitSubscribers(t, f.feed, 1)
	if s := f.feed.Subscribers(); !s[0].Lossy || s[0].PID != os.Getpid() {
		t.Errorf("tail's subscriber entry %+v, want a lossy one of this process", s[0])
	}
	code, first := -1, -1
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; code < 0; i++ {
		select {
		case code = <-done:
			continue
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tail still running after 5s; stdout %q", stdout.String())
		}
		push(t, f.feed, fmt.Sprintf("m%d", i))
		time.Sleep(time.Millisecond)
	}
	if code != exitOK {
		t.Fatalf("exit status %d\nstderr: %s", code, stderr.String())
	}
	got := stdout.String()
	if _, err := fmt.Sscanf(got, "m%d\n", &first); err != nil {
		t.Fatalf("stdout = %q, want three of the messages pushed after it joined", got)
	}
	if want := fmt.Sprintf("m%d\nm%d\nm%d\n", first, first+1, first+2); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if first > 100 {
		t.Errorf("tail's first message was the %dth pushed after its entry appeared", first)
	}
	if s := f.feed.Subscribers(); len(s) != 0 {
		t.Errorf("subscriber entries after tail: %+v, want none", s)
	}
}

// hexdump is what tail prints for msg in hex: hexdump -C -v's lines.
func hexdump(msg string) string { return hex.Dump([]byte(msg)) + fmt.Sprintf("%08x\n", len(msg)) }

// TestTailFormats: the messages already in the ring (--from oldest) in
// each format, text and JSON.
func TestTailFormats(t *testing.T) {
	msgs := []string{"hello, world", "\x00\x01binary\xff", "", "tab\there", "esc\x1b[2J", "c1 \u009b31m", "héllo"}
	tests := []struct {
		format string
		want   string
	}{
		{"auto", "hello, world\n" + hexdump(msgs[1]) + "\n" + "tab\there\n" + hexdump(msgs[4]) + hexdump(msgs[5]) + "héllo\n"},
		{"text", "hello, world\n" + `\x00\x01binary\xff` + "\n\ntab\there\n" + `esc\x1b[2J` + "\n" + `c1 \u009b31m` + "\nhéllo\n"},
		{"hex", hexdump(msgs[0]) + hexdump(msgs[1]) + hexdump(msgs[2]) + hexdump(msgs[3]) + hexdump(msgs[4]) + hexdump(msgs[5]) + hexdump(msgs[6])},
	}
	f := newStatFixture(t)
	push(t, f.feed, msgs...)
	n := fmt.Sprint(len(msgs))
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run([]string{"tail", f.path, "feed", "--from", "oldest", "-n", n, "--format", tt.format}, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit status %d\nstderr: %s", code, stderr.String())
			}
			if got := stdout.String(); got != tt.want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}

	jsonTests := []struct {
		format    string
		encodings []string
	}{
		{"auto", []string{"text", "base64", "text", "text", "base64", "text", "text"}},
		{"text", []string{"text", "base64", "text", "text", "text", "text", "text"}},
		{"hex", []string{"hex", "hex", "hex", "hex", "hex", "hex", "hex"}},
	}
	for _, tt := range jsonTests {
		t.Run("json-"+tt.format, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run([]string{"tail", f.path, "feed", "--json", "--from=oldest", "-n=" + n, "--format=" + tt.format}, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit status %d\nstderr: %s", code, stderr.String())
			}
			dec := json.NewDecoder(&stdout)
			dec.DisallowUnknownFields()
			for i, msg := range msgs {
				var m tailMessage
				if err := dec.Decode(&m); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				var data []byte
				switch m.Encoding {
				case "text":
					data = []byte(m.Data)
				case "base64":
					data, _ = base64.StdEncoding.DecodeString(m.Data)
				case "hex":
					data, _ = hex.DecodeString(m.Data)
				}
				if m.Pos != uint64(i) || m.Len != len(msg) || m.Encoding != tt.encodings[i] || string(data) != msg {
					t.Errorf("message %d: %+v, want pos %d, len %d, %s, %q", i, m, i, len(msg), tt.encodings[i], msg)
				}
			}
			if dec.More() {
				t.Errorf("more output than %d messages", len(msgs))
			}
		})
	}
}

// TestTailStreamEnds: the producer closing the stream ends tail with exit
// status 0 after the messages before it.
func TestTailStreamEnds(t *testing.T) {
	f := newStatFixture(t)
	done, stdout, stderr := startTail(f.path, "feed", "--from=oldest")
	waitSubscribers(t, f.feed, 1)
	push(t, f.feed, "one", "two")
	if err := f.feed.Close(); err != nil { // the producer's Close ends the stream
		t.Fatal(err)
	}
	if code := tailExit(t, done, stderr); code != exitOK {
		t.Fatalf("exit status %d\nstderr: %s", code, stderr.String())
	}
	if got := stdout.String(); got != "one\ntwo\n" {
		t.Errorf("stdout = %q", got)
	}
}

// TestTailFromAnotherProcess: messages pushed by a producer in another
// process, to the end of its stream.
func TestTailFromAnotherProcess(t *testing.T) {
	f := newStatFixture(t)
	done, stdout, stderr := startTail(f.path, "feed", "--from=oldest") // every message, however the join and the pushes interleave
	child := xproc.StartT(t, "tail-producer", "arena="+f.path, "ring=feed", "count=40")
	if err := child.WaitUntil(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if code := tailExit(t, done, stderr); code != exitOK {
		t.Fatalf("exit status %d\nstderr: %s", code, stderr.String())
	}
	var want strings.Builder
	for i := range 40 {
		fmt.Fprintf(&want, "remote %d\n", i)
	}
	if got := stdout.String(); got != want.String() {
		t.Errorf("stdout = %q, want 40 remote messages", got)
	}
}

// TestTailNeverBlocksProducer: with only tail attached, and tail stopped
// (SIGSTOP) so that it reads nothing, the producer pushes four rings'
// worth of messages without finding the ring full; tail, continued, says
// it was lapped and ends with the stream.
func TestTailNeverBlocksProducer(t *testing.T) {
	f := newStatFixture(t)
	// At Oldest its cursor is set once, before its role: stopped after
	// that, it reads from position 0 when continued.
	child := xproc.StartT(t, "shmring-run", "tail", f.path, "feed", "--from=oldest")
	waitSubscribers(t, f.feed, 1)
	if err := syscall.Kill(child.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, child.Pid())
	for i := range 4 * f.feed.Slots() {
		if err := f.feed.TryPush([]byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatalf("TryPush %d with tail stopped: %v", i, err)
		}
	}
	if st := inspect(t, f.a, "feed"); st.FullEvents != 0 || st.Len != 0 {
		t.Errorf("feed: %d full events, depth %d; a lossy tail must hold nothing back", st.FullEvents, st.Len)
	}
	if err := syscall.Kill(child.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := f.feed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := child.WaitUntil(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(child.Stderr(), "shmring tail: lapped: missed ") {
		t.Errorf("stderr %q does not report the lap", child.Stderr())
	}
	if !strings.HasSuffix(child.Stdout(), fmt.Sprintf("m%d\n", 4*f.feed.Slots()-1)) {
		t.Errorf("stdout does not end with the last message: %q", child.Stdout())
	}
}

// TestTailSignals: SIGINT and SIGTERM end tail with exit status 0 and
// free its subscriber entry.
func TestTailSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			f := newStatFixture(t)
			child := xproc.StartT(t, "shmring-run", "tail", f.path, "feed", "--from=oldest")
			waitSubscribers(t, f.feed, 1)
			push(t, f.feed, "hello")
			xproc.WaitFor(t, "the message", child, func() bool { return child.Stdout() == "hello\n" })
			if err := syscall.Kill(child.Pid(), sig); err != nil {
				t.Fatal(err)
			}
			if err := child.WaitUntil(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatalf("after %v: %v", sig, err)
			}
			if s := f.feed.Subscribers(); len(s) != 0 {
				t.Errorf("subscriber entries after tail: %+v, want none (freed)", s)
			}
		})
	}
}

// TestTailNoFreeEntry: with every subscriber entry taken, tail fails with
// exit status 1 and says so.
func TestTailNoFreeEntry(t *testing.T) {
	f := newStatFixture(t)
	for range 4 { // the feed ring's Subscribers
		s, err := ring.Subscribe(f.a, "feed", ring.SubscribeOptions{Lossy: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"tail", f.path, "feed"}, &stdout, &stderr); code != exitFailure {
		t.Fatalf("exit status %d, want 1", code)
	}
	if want := `shmring tail: no free subscriber entry on "feed": `; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
	if !strings.Contains(stderr.String(), "too many subscribers") {
		t.Errorf("stderr = %q, want the library's reason", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q", stdout.String())
	}
}

// TestTailRefuses: other kinds of ring, regions that are not rings,
// missing rings and arenas, and bad command lines; refusing an SPSC or
// MPMC ring leaves it as it was.
func TestTailRefuses(t *testing.T) {
	f := newStatFixture(t)
	for i := range 3 {
		if err := f.orders.TryPush([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := f.ctl.TryPush([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]ring.Stats{"orders": inspect(t, f.a, "orders"), "ctl": inspect(t, f.a, "ctl")}
	tests := []struct {
		name   string
		args   []string
		want   int
		stderr string
	}{
		{"mpmc", []string{f.path, "orders"}, exitFailure,
			`shmring tail: "orders" is an mpmc ring; tail reads broadcast and record rings only (it would consume messages from an SPSC/MPMC ring)`},
		{"spsc", []string{f.path, "ctl"}, exitFailure,
			`shmring tail: "ctl" is an spsc ring; tail reads broadcast and record rings only (it would consume messages from an SPSC/MPMC ring)`},
		{"raw region", []string{f.path, "blob"}, exitFailure, `shmring tail: "blob" is not a ring (region kind 0x0); tail reads broadcast and record rings only`},
		{"no such ring", []string{f.path, "nope"}, exitFailure, `shmring tail: no ring "nope" in ` + f.path},
		{"no such arena", []string{f.path + ".missing", "feed"}, exitFailure, "not found"},
		{"no ring argument", []string{f.path}, exitUsage, "want ARENA and RING"},
		{"extra argument", []string{f.path, "feed", "more"}, exitUsage, `unexpected argument "more"`},
		{"bad format", []string{f.path, "feed", "--format", "octal"}, exitUsage, `--format "octal": want auto, text or hex`},
		{"bad from", []string{f.path, "feed", "--from", "middle"}, exitUsage, `--from "middle": want newest or oldest`},
		{"negative n", []string{f.path, "feed", "-n", "-1"}, exitUsage, "-n -1"},
		{"bad flag", []string{f.path, "feed", "--follow"}, exitUsage, "flag provided but not defined: -follow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(append([]string{"tail"}, tt.args...), &stdout, &stderr); got != tt.want {
				t.Errorf("exit status %d, want %d\nstderr: %s", got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.stderr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q", stdout.String())
			}
		})
	}
	for name, b := range before {
		if a := inspect(t, f.a, name); a.Len != b.Len || a.MsgsOut != b.MsgsOut || a.Peers != b.Peers {
			t.Errorf("%s changed under tail's refusal: %+v, was %+v", name, a, b)
		}
	}
}

func TestEscapeText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":         "plain",
		"a\tb\nc":       "a\tb\nc",
		"\x1b[31mred":   `\x1b[31mred`,
		"\x7f":          `\x7f`,
		"\xff\xfe":      `\xff\xfe`,
		"\u0085next":    `\u0085next`,
		"ünïcödé":       "ünïcödé",
		"bell\a":        `bell\a`,
		"nul\x00":       `nul\x00`,
		"half \xe2\x82": `half \xe2\x82`,
	} {
		if got := escapeText([]byte(in)); got != want {
			t.Errorf("escapeText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTailArenaTruncated: the arena file truncated under a waiting tail
// (its next look at the ring faults) ends it with exit status 1 and a
// message, not a crash.
func TestTailArenaTruncated(t *testing.T) {
	f := newStatFixture(t)
	child := xproc.StartT(t, "shmring-run", "tail", f.path, "feed")
	waitSubscribers(t, f.feed, 1)
	// Nothing of this process may touch the mapping once the file is
	// truncated.
	f.orders.Close()
	f.feed.Close()
	f.ctl.Close()
	f.a.Close()
	if err := os.Truncate(f.path, 4096); err != nil {
		t.Fatal(err)
	}
	err := child.WaitUntil(time.Now().Add(5 * time.Second))
	if err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("tail on a truncated arena: %v, want exit status 1", err)
	}
	if want := "shmring tail: " + f.path + ": memory fault at "; !strings.Contains(child.Stderr(), want) {
		t.Errorf("stderr = %q, want %q", child.Stderr(), want)
	}
}

// waitStopped waits until every thread of process pid is stopped: kill
// returns before a SIGSTOP has stopped a thread running on another CPU,
// which may go on reading for a moment.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		stopped := 0
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue // exited
			}
			// The state follows the command name's closing parenthesis.
			if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
				stopped++
			}
		}
		if stopped == len(tasks) {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("process %d did not stop within 5 s", pid)
}
