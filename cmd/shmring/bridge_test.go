package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/bridge"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

func TestBridgeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bridge"},
		{"bridge", "sideways", "a", "b", "c", "d"},
		{"bridge", "out", "a", "b", "nats://127.0.0.1:1"},
		{"bridge", "in", "nats://127.0.0.1:1", "s", "a", "b", "extra"},
		{"bridge", "out", "a", "b", "nats://127.0.0.1:1", "s", "--from", "middle"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, code, exitUsage, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"help", "bridge"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "--jetstream") {
		t.Errorf("help bridge: exit %d\n%s", code, stdout.String())
	}
}

// TestBridgeCommand runs shmring bridge out and in as two processes over
// an in-process nats-server with JetStream, moves messages between two
// arenas, stops both with SIGTERM (a clean drain, exit 0), and reads the
// out side's counters back with shmring stat on its state file.
func TestBridgeCommand(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	url := fmt.Sprintf("nats://127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)

	prefix := fmt.Sprintf("shmring-cmd-bridge-%d-", os.Getpid())
	mk := func(name string) ring.Ring {
		a, err := arena.Create(prefix+name, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close(); arena.Remove(prefix+name, arena.WithForce()) })
		r, err := ring.CreateSPSC(a, "r", ring.Config{Slots: 64, SlotSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	src, dst := mk("A"), mk("B")
	outState := filepath.Join(arena.ShmDir, prefix+"out-state")
	inState := filepath.Join(arena.ShmDir, prefix+"in-state")
	for _, p := range []string{outState, inState} {
		t.Cleanup(func() { arena.Remove(p, arena.WithForce()) })
	}
	in := xproc.StartT(t, "shmring-run", "bridge", "in", url, "q", prefix+"B", "r", "--jetstream", "--stream", "Q",
		"--state", inState, "--interval", "0")
	xproc.WaitFor(t, "bridge in ready", in, func() bool { return strings.Contains(in.Stderr(), "receiving q") })
	out := xproc.StartT(t, "shmring-run", "bridge", "out", prefix+"A", "r", url, "q", "--jetstream", "--stream", "Q",
		"--state", outState, "--interval", "0")
	const n = 500
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		for i := range n {
			if err := src.Push(ctx, []byte(fmt.Sprintf("m%d", i))); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64)
	for i := range n {
		k, err := dst.Pop(ctx, buf)
		if err != nil {
			t.Fatalf("pop %d: %v\nout: %s\nin: %s", i, err, out.Stderr(), in.Stderr())
		}
		if got, want := string(buf[:k]), fmt.Sprintf("m%d", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	for _, c := range []*xproc.Child{out, in} {
		syscall.Kill(c.Pid(), syscall.SIGTERM)
	}
	xproc.WaitAll(t, time.Now().Add(30*time.Second), []*xproc.Child{out, in}, nil)
	if got := xproc.Field(out.Stdout(), "acked"); got != fmt.Sprint(n) {
		t.Errorf("out acked=%s, want %d\n%s", got, n, out.Stdout())
	}
	if got := xproc.Field(in.Stdout(), "pushed"); got != fmt.Sprint(n) {
		t.Errorf("in pushed=%s, want %d\n%s", got, n, in.Stdout())
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"stat", outState}, &stdout, &stderr); code != exitOK {
		t.Fatalf("stat %s: exit %d\n%s", outState, code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "published 500") {
		t.Errorf("stat of the out state shows no counters:\n%s", stdout.String())
	}
	_ = bridge.StateRegion
}
