package ring

// Cross-process handle and stream: a child's Close releases its handle and
// its peer entry; only the SPSC producer's Close ends the stream, so a
// consumer process that exits with defer r.Close() leaves the stream open
// for the next consumer.

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/xproc"
)

func init() {
	roles["xp-close-handle"] = xpCloseHandle
}

// xpCloseHandle opens the ring, pushes push=N messages or pops pop=N, then
// calls Close (not Detach) and exits. Args: path ring kind push pop.
func xpCloseHandle(args []string) error {
	a := xproc.ParseArgs(args)
	ar, r, err := xpOpen(a, a["kind"])
	if err != nil {
		return err
	}
	defer ar.Close()
	defer r.Close() // what a Go user writes; it must not end a consumer's stream
	ctx, cancel := context.WithTimeout(context.Background(), xpChildTimeout)
	defer cancel()
	for i := 0; i < a.Int("push"); i++ {
		if err := r.Push(ctx, []byte("m"+strconv.Itoa(i))); err != nil {
			return fmt.Errorf("push %d: %w", i, err)
		}
	}
	buf := make([]byte, r.SlotSize())
	for i := 0; i < a.Int("pop"); i++ {
		if _, err := r.Pop(ctx, buf); err != nil {
			return fmt.Errorf("pop %d: %w", i, err)
		}
	}
	return nil
}

func TestXProcCloseHandle(t *testing.T) {
	a, path := xpArena(t, 1<<20)
	for _, tc := range []struct {
		kind      string
		role      string // the child's side
		wantEnded bool
	}{
		{"spsc", "consumer", false},
		{"spsc", "producer", true},
		{"mpmc", "consumer", false},
		{"mpmc", "producer", false},
	} {
		t.Run(tc.kind+"-"+tc.role, func(t *testing.T) {
			name := "handle-" + tc.kind + "-" + tc.role
			r := xpCreate(t, a, tc.kind, name, Config{Slots: 8, SlotSize: 16})
			defer r.Detach()
			args := []string{"path=" + path, "ring=" + name, "kind=" + tc.kind}
			if tc.role == "consumer" {
				for i := 0; i < 3; i++ {
					if err := r.TryPush([]byte("p" + strconv.Itoa(i))); err != nil {
						t.Fatal(err)
					}
				}
				args = append(args, "push=0", "pop=2")
			} else {
				args = append(args, "push=3", "pop=0")
			}
			before := r.Stats().Peers
			xproc.Output(t, xproc.StartT(t, "xp-close-handle", args...), time.Now().Add(xpChildTimeout))
			if got := r.Stats().Peers; got != before {
				t.Errorf("peers after the child's Close: %d, want %d (its entry freed)", got, before)
			}
			if r.IsClosed() != tc.wantEnded {
				t.Fatalf("stream ended = %v after the child's Close, want %v", r.IsClosed(), tc.wantEnded)
			}
			buf := make([]byte, 16)
			left := 1 // the consumer child took 2 of 3
			if tc.role == "producer" {
				left = 3
			}
			for i := 0; i < left; i++ {
				if _, err := r.TryPop(buf); err != nil {
					t.Fatalf("pop %d of the %d messages left: %v", i, left, err)
				}
			}
			_, err := r.TryPop(buf)
			if tc.wantEnded && err != io.EOF || !tc.wantEnded && err != ErrEmpty {
				t.Fatalf("pop after the last message: %v", err)
			}
		})
	}
}
