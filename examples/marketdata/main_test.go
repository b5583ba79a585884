package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/shmring/shmring/internal/xproc"
)

// TestMain lets the test binary stand in for the program: the
// orchestrator re-executes os.Executable(), which here is this binary,
// and xproc.Main runs the child's role instead of the tests.
func TestMain(m *testing.M) { xproc.Main(m, roles) }

// runMarket runs the whole example with the arena in a temporary
// directory and returns its exit status and output (only the
// orchestrator writes it: xproc captures the children's).
func runMarket(t *testing.T, args ...string) (int, string) {
	t.Helper()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append(args, "-dir", dir), &stdout, &stderr)
	out := stdout.String()
	t.Logf("exit status %d\n%s%s", code, out, &stderr)
	// The arena is removed whatever happened.
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("arena directory after the run: %v, %v; want it empty", ents, err)
	}
	return code, out
}

// TestMarketData runs the example for a second and a half at a rate the
// race detector keeps up with on two cores, with the kill and restart.
func TestMarketData(t *testing.T) {
	code, out := runMarket(t, "-duration", "1500ms", "-rate", "20000", "-report", "250ms")
	if code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	for _, want := range []string{
		"marketdata: pids: gateway ",
		"kill: s1 (pid ",
		"with SIGKILL after its quote #",
		"feed: a ring past the dead s1's cursor",
		"restart: s1#2 (pid ",
		"summary: the feed published ",
		"s3       pid ",
		"lossy, from #0: read ",
		"all 7 processes have exited",
		"marketdata: PASS",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.HasSuffix(out, "marketdata: PASS\n") {
		t.Errorf("the verdict is not the last line")
	}
	if n := strings.Count(out, "\n"); n < 20 {
		t.Errorf("only %d lines of output", n)
	}

	// The restarted strategy read from the cursor it joined at, which is
	// past everything the feed had published at the kill, to the end.
	published := atoi(t, find(t, out, `summary: the feed published (\d+) quotes`))
	join := atoi(t, find(t, out, `restart: s1#2 \(pid \d+\) joined at Newest [^:]* after the kill: its first quote will be #(\d+)`))
	m := regexp.MustCompile(`s1#2 +pid \d+ +tethered, joined at Newest at #(\d+): read (\d+) quotes #(\d+)\.\.#(\d+), none missing`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no summary line for s1#2")
	}
	if atoi(t, m[1]) != join || atoi(t, m[3]) != join || atoi(t, m[4]) != published-1 || atoi(t, m[2]) != published-join {
		t.Errorf("s1#2 joined at #%d, feed published %d: %q", join, published, m[0])
	}
	killed := atoi(t, find(t, out, `kill: s1 \(pid \d+\) with SIGKILL after its quote #(\d+)`))
	if join <= killed {
		t.Errorf("s1#2 joined at #%d, not after its predecessor's last quote #%d", join, killed)
	}
	// The tethered strategies that lived read every quote.
	for _, s := range []string{"s0", "s2"} {
		want := s + " +pid \\d+ +tethered, from #0: read " + strconv.Itoa(published) + " quotes #0\\.\\.#" + strconv.Itoa(published-1) + ", none missing"
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("no line matching %q", want)
		}
	}
	if g := atoi(t, find(t, out, `gateway +pid \d+ +(\d+) orders`)); g == 0 {
		t.Errorf("the gateway received no orders")
	}
}

// TestMarketDataCatchesFaults: each planted fault fails the run (exit
// status 1) with the reason, and the arena is still removed.
func TestMarketDataCatchesFaults(t *testing.T) {
	for _, tt := range []struct{ inject, want string }{
		{"gap", "gap: quote #1001 follows #999 (want #1000)"},
		{"torn", "torn quote"},
		{"order", "want order 10: orders lost"},
	} {
		t.Run(tt.inject, func(t *testing.T) {
			// The run ends at the first failure, well before -duration.
			code, out := runMarket(t, "-duration", "3s", "-rate", "20000", "-report", "100ms", "-kill", "-1", "-inject", tt.inject)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if !strings.Contains(out, "marketdata: FAIL") || !strings.Contains(out, tt.want) {
				t.Errorf("output lacks the verdict FAIL with %q", tt.want)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-duration", "0s"},
		{"-strategies", "0"},
		{"-lossy", "4"},
		{"-kill", "7"},
		{"-wait", "sometimes"},
		{"-inject", "fire"},
		{"stray"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run %q: exit status %d, want 2 (stderr %q)", args, code, &stderr)
		}
	}
}

func TestWire(t *testing.T) {
	if unsafe.Sizeof(boardHeader{}) != 64 || unsafe.Sizeof(procRecord{}) != 256 || unsafe.Offsetof(procRecord{}.OrdRecv) != 192 {
		t.Fatalf("board records: header %d, record %d bytes, OrdRecv at %d; want 64, 256, 192",
			unsafe.Sizeof(boardHeader{}), unsafe.Sizeof(procRecord{}), unsafe.Offsetof(procRecord{}.OrdRecv))
	}
	q := quote{Seq: 7, Bid: 10_841, Ask: 10_843, SentNs: 123456789}
	copy(q.Symbol[:], "EURUSD")
	var b [quoteSize]byte
	q.encode(b[:])
	var got quote
	if err := got.decode(b[:]); err != nil || got != q {
		t.Fatalf("quote decode = %+v, %v; want %+v", got, err, q)
	}
	b[20] ^= 1
	if err := got.decode(b[:]); err == nil || !strings.Contains(err.Error(), "torn") {
		t.Fatalf("decode of a changed quote: %v, want torn", err)
	}
	o := order{From: 3, Side: sell, ID: 9, QuoteSeq: 7, Symbol: q.Symbol, Price: 10_841, Qty: 100, QuoteNs: 123456789}
	var ob [orderSize]byte
	o.encode(ob[:])
	var og order
	if err := og.decode(ob[:]); err != nil || og != o {
		t.Fatalf("order decode = %+v, %v; want %+v", og, err, o)
	}
	ob[9] ^= 1
	if err := og.decode(ob[:]); err == nil {
		t.Fatal("decode of a changed order succeeded")
	}
}

func find(t *testing.T, out, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output has no match for %q", re)
	}
	return m[1]
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
