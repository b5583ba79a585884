// Package ctest runs the C peer (c/) against the Go rings across processes:
// the test compiles the C library and its test tool (c/tests/ctool.c) with
// gcc into a temporary directory, then runs Go and C producers and
// consumers in separate processes over one arena file. It is skipped,
// with a message saying so, when gcc is not installed.
//
// The Go side of a scenario runs in the test process or, where it must be
// killed, in a re-executed child of the test binary (internal/xproc). The
// C side is always a child process (ctool), so the race detector does not
// see it.
package ctest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

func TestMain(m *testing.M) {
	if status, ok := xproc.Dispatch(roles); ok {
		os.Exit(status)
	}
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// childTimeout bounds every C process and every blocking Go call.
const childTimeout = 30 * time.Second

var (
	buildOnce [2]sync.Once
	buildPath [2]string
	buildErr  [2]error
	buildDir  string
	buildMu   sync.Mutex
)

// ctool compiles c/ and c/tests/ctool.c once per test binary (sanitize:
// with -fsanitize=address,undefined) and returns the program's path.
func ctool(t testing.TB, sanitize bool) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc is not installed: the C peer (c/) is not tested")
	}
	i := 0
	if sanitize {
		i = 1
	}
	buildOnce[i].Do(func() {
		buildMu.Lock()
		if buildDir == "" {
			buildDir, buildErr[i] = os.MkdirTemp("", "shmring-ctest-")
		}
		dir := buildDir
		buildMu.Unlock()
		if buildErr[i] != nil {
			return
		}
		root, err := filepath.Abs("../../c")
		if err != nil {
			buildErr[i] = err
			return
		}
		srcs, _ := filepath.Glob(filepath.Join(root, "src", "*.c"))
		out := filepath.Join(dir, "ctool")
		args := []string{"-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"}
		if sanitize {
			out += "-asan"
			args = []string{"-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
				"-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"}
		}
		args = append(args, "-I", filepath.Join(root, "include"), "-o", out, filepath.Join(root, "tests", "ctool.c"))
		args = append(args, srcs...)
		cmd := exec.Command(gcc, args...)
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr[i] = fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, b)
			return
		}
		buildPath[i] = out
	})
	if buildErr[i] != nil {
		t.Fatal(buildErr[i])
	}
	return buildPath[i]
}

// cproc is a running ctool.
type cproc struct {
	cmd    *exec.Cmd
	out    *syncBuf
	errb   *syncBuf
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startC(t testing.TB, tool string, args ...string) *cproc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	cmd := exec.CommandContext(ctx, tool, args...)
	p := &cproc{cmd: cmd, out: &syncBuf{}, errb: &syncBuf{}, done: make(chan struct{}), cancel: cancel}
	cmd.Stdout, cmd.Stderr = p.out, p.errb
	cmd.Env = append(os.Environ(), "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		cancel()
	})
	return p
}

func (p *cproc) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill() // SIGKILL
		<-p.done
	}
}

// wait waits for the C process and fails the test if it failed.
func (p *cproc) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(childTimeout):
		p.kill()
		t.Fatalf("C process %v did not exit within %v; stderr:\n%s", p.cmd.Args, childTimeout, p.errb.String())
	}
	if p.err != nil {
		t.Fatalf("C process %v: %v\nstdout:\n%s\nstderr:\n%s", p.cmd.Args[1:], p.err, p.out.String(), p.errb.String())
	}
	return p.out.String()
}

// waitOutput waits until the C process prints want.
func (p *cproc) waitOutput(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(childTimeout)
	for !strings.Contains(p.out.String(), want) {
		select {
		case <-p.done:
			t.Fatalf("C process %v exited before printing %q: %v\n%s\n%s", p.cmd.Args[1:], want, p.err, p.out.String(), p.errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("C process did not print %q", want)
		}
		time.Sleep(time.Millisecond)
	}
}

func field(t *testing.T, out, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(xproc.Field(out, key), 10, 64)
	if err != nil {
		t.Fatalf("no %s= in %q", key, out)
	}
	return v
}

// The message of producer p at sequence s, as ctool.c builds it.
func msgLen(s uint64, p uint32, slotSize int) int {
	return 12 + int((s*7919+uint64(p)*13)%uint64(slotSize-11))
}

func fillMsg(b []byte, p uint32, s uint64) []byte {
	binary.LittleEndian.PutUint32(b, p)
	binary.LittleEndian.PutUint64(b[4:], s)
	for i := 12; i < len(b); i++ {
		b[i] = byte(s*31 + uint64(i) + uint64(p))
	}
	return b
}

func sumMsg(sum uint64, m []byte) uint64 {
	for _, c := range m {
		sum = sum*31 + uint64(c)
	}
	return sum
}

// checker verifies messages of several producers: each intact, each
// producer's in order, none twice.
type checker struct {
	next     []uint64
	strict   bool // one producer: no gaps either
	slotSize int
	got      uint64
	bytes    uint64
	sum      uint64
}

func (c *checker) check(m []byte) error {
	if len(m) < 12 {
		return fmt.Errorf("message of %d bytes", len(m))
	}
	p := binary.LittleEndian.Uint32(m)
	s := binary.LittleEndian.Uint64(m[4:])
	if int(p) >= len(c.next) {
		return fmt.Errorf("producer %d", p)
	}
	if s < c.next[p] || c.strict && s != c.next[p] {
		return fmt.Errorf("producer %d: seq %d, want %d", p, s, c.next[p])
	}
	want := fillMsg(make([]byte, msgLen(s, p, c.slotSize)), p, s)
	if !bytes.Equal(m, want) {
		return fmt.Errorf("producer %d seq %d: bad content (len %d, want %d)", p, s, len(m), len(want))
	}
	c.next[p] = s + 1
	c.got++
	c.bytes += uint64(len(m))
	c.sum = sumMsg(c.sum, m)
	return nil
}

// newArena creates an arena in t.TempDir() holding one ring.
func newArena(t *testing.T, kind arena.Kind, cfg ring.Config) (string, *arena.Arena) {
	t.Helper()
	size, err := ring.ArenaSize([]ring.Spec{{Kind: kind, Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "arena")
	a, err := arena.Create(path, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return path, a
}

// goProduce pushes n messages of producer id through r, pausing every
// pauseEvery messages (so that the consumer goes to sleep).
func goProduce(ctx context.Context, r ring.Ring, id uint32, n uint64, pauseEvery uint64) (uint64, uint64, error) {
	ss := r.SlotSize()
	buf := make([]byte, ss)
	var bytesSent, sum uint64
	for s := uint64(0); s < n; s++ {
		m := fillMsg(buf[:msgLen(s, id, ss)], id, s)
		if err := r.Push(ctx, m); err != nil {
			return bytesSent, sum, fmt.Errorf("push %d: %w", s, err)
		}
		bytesSent += uint64(len(m))
		sum = sumMsg(sum, m)
		if pauseEvery != 0 && (s+1)%pauseEvery == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return bytesSent, sum, nil
}

// goConsume pops until EOF, checking every message.
func goConsume(ctx context.Context, r ring.Ring, c *checker, pauseEvery uint64) error {
	buf := make([]byte, r.SlotSize())
	for {
		n, err := r.Pop(ctx, buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := c.check(buf[:n]); err != nil {
			return err
		}
		if pauseEvery != 0 && c.got%pauseEvery == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func peerOf(t *testing.T, r ring.Ring, pid int) ring.Peer {
	t.Helper()
	type peerser interface{ Peers() []ring.Peer }
	for _, p := range r.(peerser).Peers() {
		if p.PID == pid {
			return p
		}
	}
	t.Fatalf("no peer entry of pid %d", pid)
	return ring.Peer{}
}
