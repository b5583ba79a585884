package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the program: the encoder
// re-executes os.Executable() with SHMRING_FRAMES_ROLE=decoder, which
// here is this binary, so it must run the program instead of the tests
// (TestFramesSignal starts it as the encoder the same way).
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// lockedBuffer is a bytes.Buffer that the encoder and the decoder
// process's output copier may write concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	sentRe     = regexp.MustCompile(`encoder: sent (\d+) frames .* waited for room (\d+) times`)
	receivedRe = regexp.MustCompile(`decoder: received (\d+) frames .* waited for frames (\d+) times`)
)

// counts finds the frames each side handled and how often it waited.
func counts(t *testing.T, out string) (sent, roomWaits, received, frameWaits int) {
	t.Helper()
	s, r := sentRe.FindStringSubmatch(out), receivedRe.FindStringSubmatch(out)
	if s == nil || r == nil {
		t.Fatalf("no encoder or decoder report in:\n%s", out)
	}
	atoi := func(v string) int { n, _ := strconv.Atoi(v); return n }
	return atoi(s[1]), atoi(s[2]), atoi(r[1]), atoi(r[2])
}

// TestFrames runs the whole example, encoder and decoder process, with
// the arena in a temporary directory: a few hundred 1-8 MiB frames as
// fast as both go, then smaller frames with each side made the slower,
// so that the other waits on the ring (back-pressure).
func TestFrames(t *testing.T) {
	small := []string{"-min", "4096", "-max", "65536", "-capacity", "262144"}
	for _, tc := range []struct {
		name string
		args []string
		n    int
		// roomWaits, frameWaits: the encoder must have waited for room,
		// the decoder for frames.
		roomWaits, frameWaits bool
	}{
		{"1-8MiB", nil, 300, false, false},
		{"slow-decoder", append([]string{"-decode-delay", "2ms", "-pipeline", "3"}, small...), 200, true, false},
		{"slow-encoder", append([]string{"-encode-delay", "2ms", "-pipeline", "1"}, small...), 200, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var stdout, stderr lockedBuffer
			args := append([]string{"-n", strconv.Itoa(tc.n), "-dir", dir, "-timeout", "90s"}, tc.args...)
			done := make(chan int, 1)
			go func() { done <- run(args, &stdout, &stderr) }()
			select {
			case code := <-done:
				if code != 0 {
					t.Fatalf("run %v: exit status %d\nstdout:\n%s\nstderr:\n%s", args, code, &stdout, &stderr)
				}
			case <-time.After(120 * time.Second):
				t.Fatalf("run %v still running after 120s\nstdout:\n%s\nstderr:\n%s", args, &stdout, &stderr)
			}
			out := stdout.String()
			t.Logf("\n%s", out)
			sent, roomWaits, received, frameWaits := counts(t, out)
			if sent != tc.n || received != tc.n {
				t.Errorf("sent %d, received %d, want %d each", sent, received, tc.n)
			}
			if tc.roomWaits && roomWaits == 0 {
				t.Error("a slow decoder never made the encoder wait for room")
			}
			if tc.frameWaits && frameWaits == 0 {
				t.Error("a slow encoder never made the decoder wait for frames")
			}
			if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
				t.Errorf("arena directory after the run: %v, %v; want it empty", ents, err)
			}
		})
	}
}

// TestFramesSignal starts the encoder as a process of its own with no
// frame count and sends it SIGTERM once frames flow: it must end the
// stream, the decoder must drain it, both must agree on the count, and
// the encoder must exit 0 having removed its arena.
func TestFramesSignal(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-n", "0", "-dir", dir, "-timeout", "90s",
		"-min", "65536", "-max", "1048576", "-capacity", "4194304", "-encode-delay", "1ms")
	cmd.Env = append(os.Environ(), roleEnv+"=encoder")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out strings.Builder
	select {
	case l := <-lines:
		out.WriteString(l + "\n")
		if !strings.Contains(l, "decoder attached") {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no decoder attached within 30 s; stderr:\n%s", &stderr)
	}
	time.Sleep(200 * time.Millisecond) // some frames flow
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		out.WriteString(l + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("encoder: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &stderr)
	}
	t.Logf("\n%s", &out)
	sent, _, received, _ := counts(t, out.String())
	if sent == 0 || sent != received {
		t.Errorf("sent %d, received %d: want the same, and some", sent, received)
	}
	if !strings.Contains(out.String(), "stopped by a signal") {
		t.Errorf("no word of the signal in:\n%s", &out)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("arena directory after the run: %v, %v; want it empty", ents, err)
	}
}

// TestFrameCheck: a frame is checked for its header, order and checksum.
func TestFrameCheck(t *testing.T) {
	s := newSource(headerSize, 4096)
	f := make([]byte, 1000)
	s.fill(f, 7)
	if err := check(f, 7); err != nil {
		t.Fatal(err)
	}
	if check(f, 8) == nil {
		t.Error("a frame out of order passed")
	}
	f[500] ^= 1
	if check(f, 7) == nil {
		t.Error("a corrupted frame passed")
	}
	if check(f[:999], 7) == nil {
		t.Error("a truncated frame passed")
	}
	if check(f[:10], 7) == nil {
		t.Error("a frame shorter than its header passed")
	}
}
