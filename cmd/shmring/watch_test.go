package main

import (
	"bufio"
	"bytes"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/shmring/shmring/internal/xproc"
)

// rfc3339Line matches a line that is only an RFC 3339 timestamp, as the
// blocks of stat --watch begin when stdout is not a terminal.
var rfc3339Line = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$`)

// TestStatWatchBlocks: with stdout not a terminal, --watch --count 3
// prints three blocks, each starting with a timestamp line, with rates,
// and no terminal control sequences.
func TestStatWatchBlocks(t *testing.T) {
	f := newStatFixture(t)
	var stdout, stderr bytes.Buffer
	start := time.Now()
	if code := run([]string{"stat", f.path, "--watch=100ms", "--count", "3", "--sample=50ms"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d\nstderr: %s", code, stderr.String())
	}
	// The first block after --sample, then one per interval.
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Errorf("three blocks took %v, want at least 50ms + 2 x 100ms", took)
	}
	out := stdout.String()
	t.Logf("output:\n%s", out)
	if strings.Contains(out, "\x1b") {
		t.Errorf("escape sequences in output that is not a terminal: %q", out)
	}
	stamps := rfc3339Line.FindAllStringIndex(out, -1)
	if len(stamps) != 3 {
		t.Fatalf("%d timestamp lines, want 3", len(stamps))
	}
	if stamps[0][0] != 0 {
		t.Errorf("output does not start with a timestamp line: %q", out[:min(len(out), 80)])
	}
	var prev time.Time
	for i, s := range stamps {
		ts, err := time.Parse(time.RFC3339, out[s[0]:s[1]])
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if ts.Before(prev) {
			t.Errorf("block %d's timestamp %v is before the one before", i, ts)
		}
		prev = ts
		end := len(out)
		if i+1 < len(stamps) {
			end = stamps[i+1][0]
		}
		block := out[s[1]:end]
		if !strings.HasPrefix(block, "\narena "+f.path+"  ") || strings.Count(block, "\narena ") != 1 {
			t.Errorf("block %d does not hold one arena report: %q", i, block)
		}
		if !strings.Contains(block, "3 rings  rates over ") || !strings.Contains(block, "\norders  mpmc") {
			t.Errorf("block %d lacks rates or a ring: %q", i, block)
		}
	}
}

// TestStatWatchJSON: --watch --json prints one JSON object per line, the
// later ones with rates over the interval.
func TestStatWatchJSON(t *testing.T) {
	f := newStatFixture(t)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"stat", f.path, "orders", "--json", "--watch=100ms", "--count=3", "--sample=0"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d\nstderr: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), stdout.String())
	}
	for i, line := range lines {
		rep := decodeStat(t, []byte(line))
		r := findRing(t, rep, "orders")
		switch {
		case i == 0 && r.Rates != nil:
			t.Errorf("first sample has rates %+v with --sample=0", r.Rates)
		case i > 0 && (r.Rates == nil || r.Rates.Window < 0.09 || r.Rates.Window > 2):
			t.Errorf("sample %d rates %+v, want them over about 100ms", i, r.Rates)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStatWatchArenaGone: an arena removed, replaced or truncated while
// stat watches it ends the watch with exit status 1 and a message.
func TestStatWatchArenaGone(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, path string)
		want   string
	}{
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "arena disappeared"},
		{"replaced", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte("new"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "replaced by another file"},
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 4096); err != nil {
				t.Fatal(err)
			}
		}, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newStatFixture(t)
			// Nothing of this process may touch the mapping once the file
			// is truncated: release the creator's handles first.
			f.orders.Close()
			f.feed.Close()
			f.ctl.Close()
			f.a.Close()
			var stdout, stderr syncBuffer
			done := make(chan int, 1)
			go func() { done <- run([]string{"stat", f.path, "--watch=20ms", "--sample=0"}, &stdout, &stderr) }()
			waitUntil(t, "the first block", func() bool { return strings.Contains(stdout.String(), "\norders  mpmc") })
			tt.break_(t, f.path)
			select {
			case code := <-done:
				if code != exitFailure {
					t.Errorf("exit status %d, want 1", code)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("stat --watch still running 5s after the arena broke")
			}
			if msg := stderr.String(); !strings.Contains(msg, "shmring stat: while watching: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("stderr = %q, want it to say %q", msg, tt.want)
			}
		})
	}
}

// TestStatWatchTerminal runs stat --watch on a pseudo-terminal, in a
// child process (this test binary re-executed, running the command as
// main does): it hides the cursor, redraws in place (home and clear once
// per frame, no timestamp lines), and on SIGINT restores the cursor and
// exits 0.
func TestStatWatchTerminal(t *testing.T) {
	f := newStatFixture(t)
	cmd := xproc.Command(t, "shmring-run", "stat", f.path, "--watch=300ms", "--sample=50ms")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 200, Cols: 120})
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill() // harmless once it has exited

	var out syncBuffer
	readDone := make(chan struct{})
	go func() { // until the child's side closes (EIO on Linux)
		defer close(readDone)
		r := bufio.NewReader(ptmx)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()

	const frameStart = termHome + termClear
	// Four redraws take about a second; the deadline allows for a slow start.
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), frameStart) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGINT: %v (want exit status 0)\nstderr: %s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("stat --watch did not exit within 5s of SIGINT; output:\n%q", out.String())
	}
	select {
	case <-readDone:
	case <-time.After(2 * time.Second): // the rest was read; do not wait for EOF
	}

	got := out.String()
	frames := strings.Count(got, frameStart)
	titles := strings.Count(got, "shmring stat  every 300ms  ")
	t.Logf("%d frames; output starts %q", frames, got[:min(len(got), 300)])
	if frames < 4 {
		t.Errorf("%d frames in about 2.5s, want at least 4", frames)
	}
	if frames != titles {
		t.Errorf("%d home+clear sequences for %d frames: want one per redraw", frames, titles)
	}
	if n := strings.Count(got, termHideCursor); n != 1 || !strings.HasPrefix(got, termHideCursor) {
		t.Errorf("cursor hidden %d times (want once, first)", n)
	}
	if !strings.HasSuffix(got, termShowCursor) {
		t.Errorf("output does not end by restoring the cursor: ends %q", got[max(0, len(got)-40):])
	}
	plain := strings.ReplaceAll(got, "\r\n", "\n")
	if rfc3339Line.MatchString(plain) {
		t.Errorf("timestamp lines on a terminal: %q", rfc3339Line.FindString(plain))
	}
	if !strings.Contains(plain, "\norders  mpmc  64 slots") {
		t.Errorf("no ring in the frames")
	}
	if s := stderr.String(); s != "" {
		t.Errorf("stderr: %q", s)
	}
}

// TestStatWatchSignal: SIGINT or SIGTERM ends a watch whose stdout is not
// a terminal with exit status 0, after the blocks it printed.
func TestStatWatchSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			f := newStatFixture(t)
			child := xproc.StartT(t, "shmring-run", "stat", f.path, "--watch=50ms", "--sample=10ms")
			xproc.WaitFor(t, "two blocks", child, func() bool { return len(rfc3339Line.FindAllString(child.Stdout(), -1)) >= 2 })
			if err := syscall.Kill(child.Pid(), sig); err != nil {
				t.Fatal(err)
			}
			if err := child.WaitUntil(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatalf("after %v: %v", sig, err)
			}
			if strings.Contains(child.Stdout(), "\x1b") {
				t.Errorf("escape sequences on stdout that is not a terminal")
			}
		})
	}
}
