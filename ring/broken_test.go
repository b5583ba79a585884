package ring

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestHarnessCatchesBrokenRing tests the tests: it builds this package and
// fuzz/ with -tags shmring_broken, whose MPMC consumer claims slots that
// are not yet published (broken_on.go), and requires this package's model
// test and fuzz/'s MPMC stress test each to fail on it. A harness that
// passes a broken ring proves nothing.
//
// -failfast stops each package at its first failure, so no test goes on
// to wait on a ring that lost its messages; -timeout turns any hang into a
// failure with a goroutine dump.
func TestHarnessCatchesBrokenRing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the package again; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// TestModel is this package's model test; TestStressMPMC is the
	// black-box stress harness in fuzz/, built here against the broken
	// ring. Each must fail on its own: one go test per package, since
	// -failfast also keeps go test from starting a package after another
	// failed (seen in CI: the ring's failure came first and fuzz never
	// ran). A stress test whose consumers wait for lost messages fails
	// at its -timeout.
	var out []byte
	var exit *exec.ExitError
	for _, pkg := range []struct{ dir, run, timeout string }{{".", "TestModel", "2m"}, {"../fuzz", "TestStressMPMC", "45s"}} {
		cmd := exec.CommandContext(ctx, goTool, "test", "-tags", "shmring_broken",
			"-run", pkg.run, "-count=1", "-short", "-failfast", "-timeout", pkg.timeout, pkg.dir)
		// Drop the cross-process role in case this test runs inside a child.
		cmd.Env = withoutEnv(os.Environ(), "SHMRING_XPROC_ROLE", "SHMRING_XPROC_ARGS")
		o, err := cmd.CombinedOutput()
		out = append(out, o...)
		if ctx.Err() != nil {
			t.Fatalf("broken build still running after 3 minutes:\n%s", out)
		}
		if !errors.As(err, &exit) {
			t.Fatalf("go test on the broken build of %s: %v\n%s", pkg.dir, err, o)
		}
	}
	if !bytes.Contains(out, []byte("FAIL")) {
		t.Fatalf("broken build exited %d without a test failure (build error?):\n%s", exit.ExitCode(), out)
	}
	for _, pkg := range []string{"github.com/shmring/shmring/ring", "github.com/shmring/shmring/fuzz"} {
		if !bytes.Contains(out, []byte("FAIL\t"+pkg+"\t")) {
			t.Fatalf("the broken build passed %s's tests:\n%s", pkg, out)
		}
	}
	if bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")) {
		t.Fatalf("broken build did not build:\n%s", out)
	}
	t.Logf("broken ring caught (exit %d):\n%s", exit.ExitCode(), firstLines(out, 12))
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
