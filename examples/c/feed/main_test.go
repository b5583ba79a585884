package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// buildConsumer compiles ../md_consumer.c with the C peer library, as
// the README says, into a temporary directory.
func buildConsumer(t *testing.T) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc is not installed: the C example is not tested")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	srcs, _ := filepath.Glob(filepath.Join(root, "c", "src", "*.c"))
	out := filepath.Join(t.TempDir(), "md_consumer")
	args := append([]string{"-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-I", filepath.Join(root, "c", "include"),
		"-o", out, filepath.Join(root, "examples", "c", "md_consumer.c")}, srcs...)
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return out
}

var summary = regexp.MustCompile(`quotes=(\d+) laps=(\d+) missed=(\d+) next=(\d+) symbols=(\d+) .* bad=(\d+)`)

// TestCConsumer runs the Go feed in this process and two C consumers
// against it, one tethered and one lossy: the tethered one reads every
// quote, the lossy one's quotes plus the missed it was told of are every
// quote, and neither saw a torn or out-of-order one.
func TestCConsumer(t *testing.T) {
	tool := buildConsumer(t)
	const n = 200_000
	path := filepath.Join(t.TempDir(), "mdfeed")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type cons struct {
		cmd      *exec.Cmd
		out, err bytes.Buffer
	}
	var cs []*cons
	for _, mode := range [][]string{{}, {"-lossy"}} {
		c := &cons{cmd: exec.CommandContext(ctx, tool, append(mode, "-wait", "20000", path, "quotes")...)}
		c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.err
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	var fout, ferr bytes.Buffer
	if code := run(ctx, []string{"-arena", path, "-n", strconv.Itoa(n), "-subscribers", "2", "-slots", "256"}, &fout, &ferr); code != 0 {
		t.Fatalf("feed exit %d: %s%s", code, &fout, &ferr)
	}
	t.Logf("%s", &fout)
	for i, c := range cs {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("consumer %d: %v\n%s%s", i, err, &c.out, &c.err)
		}
		m := summary.FindStringSubmatch(c.out.String())
		if m == nil {
			t.Fatalf("consumer %d printed no summary: %s", i, &c.out)
		}
		v := make([]uint64, len(m))
		for j := 1; j < len(m); j++ {
			v[j], _ = strconv.ParseUint(m[j], 10, 64)
		}
		quotes, laps, missed, next, syms, bad := v[1], v[2], v[3], v[4], v[5], v[6]
		if bad != 0 || next != n || syms != 8 {
			t.Errorf("consumer %d: %s", i, m[0])
		}
		if i == 0 && (quotes != n || laps != 0) {
			t.Errorf("tethered consumer read %d quotes with %d laps, want %d and 0", quotes, laps, n)
		}
		if i == 1 && quotes+missed != n {
			t.Errorf("lossy consumer: %d quotes + %d missed, want %d", quotes, missed, n)
		}
		t.Logf("consumer %d: %s", i, m[0])
	}
}
