package ctest

// Regression tests from the independent review of the C peer library:
// timeouts of INT64_MAX (C++'s nanoseconds::max()) overflowed a signed
// deadline (UB, caught by UBSan), and a forked child kept the parent's
// liveness locks, so survivors never recovered the dead parent's entry.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

func reviewTool(t *testing.T) string {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc")
	}
	root, _ := filepath.Abs("../../c")
	srcs, _ := filepath.Glob(filepath.Join(root, "src", "*.c"))
	out := filepath.Join(t.TempDir(), "review")
	args := []string{"-std=c11", "-Wall", "-Wextra", "-O1", "-g", "-fsanitize=address,undefined",
		"-fno-sanitize-recover=all", "-I", filepath.Join(root, "include"), "-o", out,
		filepath.Join(root, "tests", "review_probe.c")}
	args = append(args, srcs...)
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return out
}

func reviewRing(t *testing.T) (string, *arena.Arena, ring.Ring) {
	cfg := ring.Config{Slots: 8, SlotSize: 64}
	path, a := newArena(t, ring.KindSPSC, cfg)
	r, err := ring.Create(a, "r", ring.KindSPSC, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return path, a, r
}

func TestCTimeoutMax(t *testing.T) {
	tool := reviewTool(t)
	for _, what := range []string{"arena-timeout-max", "pop-timeout-max"} {
		t.Run(what, func(t *testing.T) {
			path, _, r := reviewRing(t)
			cmd := exec.Command(tool, path, what)
			cmd.Env = append(os.Environ(), "ASAN_OPTIONS=detect_leaks=0") // the probe exits holding its handles
			var buf strings.Builder
			cmd.Stdout, cmd.Stderr = &buf, &buf
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			if what == "pop-timeout-max" {
				// The C pop waits on the empty ring with a deadline
				// INT64_MAX away (the sum that overflowed); a message
				// ends its wait.
				time.Sleep(200 * time.Millisecond)
				if err := r.TryPush([]byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("%s: still running after 20 s\n%s", what, buf.String())
			}
			if err != nil {
				var keep []string
				for _, l := range strings.Split(buf.String(), "\n") {
					if strings.Contains(l, "runtime error") || strings.Contains(l, "ERROR: AddressSanitizer") ||
						strings.Contains(l, "SUMMARY") || strings.HasPrefix(strings.TrimSpace(l), "#0") ||
						strings.HasPrefix(strings.TrimSpace(l), "#1 ") || strings.HasPrefix(l, "pop") || strings.HasPrefix(l, "open") {
						keep = append(keep, l)
					}
				}
				t.Errorf("%s: %v\n%s", what, err, strings.Join(keep, "\n"))
			}
		})
	}
}

func TestCForkReleasesLocks(t *testing.T) {
	tool := reviewTool(t)
	path, _, r := reviewRing(t)
	out, err := exec.Command(tool, path, "fork-pin").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The C process has exited; its forked child (which never touched
	// the ring) sleeps on for 4 s.
	time.Sleep(200 * time.Millisecond)
	s := r.Stats()
	if s.DeadPeers != 1 || s.Peers != 1 {
		t.Errorf("after the C producer exited: Peers %d DeadPeers %d, want 1 live (Go) and 1 dead (C): "+
			"the forked child pins the C peer's liveness lock (%s)", s.Peers, s.DeadPeers, strings.TrimSpace(string(out)))
	}
}
