package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the program: the publisher
// re-executes os.Executable() with SHMRING_QUOTES_ROLE=consumer, which
// here is this binary, so it must run the consumer instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// lockedBuffer is a bytes.Buffer that the publisher and the consumer
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

// TestQuotes runs the whole example, publisher and consumer process, with
// the arena in a temporary directory.
func TestQuotes(t *testing.T) {
	for _, wait := range []string{"adaptive", "block"} {
		t.Run(wait, func(t *testing.T) {
			dir := t.TempDir()
			var stdout, stderr lockedBuffer
			args := []string{"-n", "2000", "-dir", dir, "-wait", wait, "-timeout", "60s"}
			done := make(chan int, 1)
			go func() { done <- run(args, &stdout, &stderr) }()
			select {
			case code := <-done:
				if code != 0 {
					t.Fatalf("run %v: exit status %d\nstdout:\n%s\nstderr:\n%s", args, code, &stdout, &stderr)
				}
			case <-time.After(90 * time.Second):
				// -timeout should have ended it at 60s, killing the consumer.
				t.Fatalf("run %v still running after 90s\nstdout:\n%s\nstderr:\n%s", args, &stdout, &stderr)
			}
			out := stdout.String()
			t.Logf("\n%s", out)
			for _, want := range []string{"consumer: received 2000 quotes", "one-way latency p50", "publisher: sent 2000 quotes"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s\nstderr:\n%s", want, out, &stderr)
				}
			}
			// The publisher removed its arena.
			if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
				t.Errorf("arena directory after the run: %v, %v; want it empty", ents, err)
			}
		})
	}
}

func TestQuoteEncoding(t *testing.T) {
	if n := binary.Size(quote{}); n != quoteSize {
		t.Fatalf("binary.Size(quote{}) = %d, want %d", n, quoteSize)
	}
	q := quote{Bid: 10_841, Ask: 10_843, SentNs: 123456789}
	copy(q.Symbol[:], "EURUSD")
	var b [quoteSize]byte
	q.encode(b[:])
	// The record is what encoding/binary makes of the struct.
	var want bytes.Buffer
	if err := binary.Write(&want, binary.LittleEndian, &q); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:], want.Bytes()) {
		t.Fatalf("encode = %x, binary.Write = %x", b, want.Bytes())
	}
	var got quote
	if err := got.decode(b[:]); err != nil || got != q {
		t.Fatalf("decode = %+v, %v; want %+v", got, err, q)
	}
	if err := got.decode(b[:31]); err == nil {
		t.Fatal("decode of 31 bytes succeeded")
	}
	if s := symbol(q.Symbol); s != "EURUSD" {
		t.Fatalf("symbol = %q", s)
	}
}
