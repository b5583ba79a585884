package ring

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/xproc"
)

func init() {
	roles["xp-push-forever"] = xpRingRole("spsc", xpPushForever)
}

// xpPushForever pushes messages (stream 1, seq 0, 1, ...) until an
// operation fails, then says which and how many were pushed.
func xpPushForever(ctx context.Context, _ xproc.Args, r Ring) error {
	msg := make([]byte, 16)
	for seq := uint64(0); ; seq++ {
		binary.LittleEndian.PutUint64(msg, 1)
		binary.LittleEndian.PutUint64(msg[8:], seq)
		if err := r.Push(ctx, msg); err != nil {
			fmt.Printf("stopped after %d: %v\n", seq, err)
			if errors.Is(err, ErrFenced) {
				return nil
			}
			return err
		}
		if seq == 10 {
			fmt.Println("pushing")
		}
	}
}

// TestSPSCFencedAfterPause: a producer paused with SIGSTOP and replaced
// by a new producer handle gets ErrFenced on resuming and publishes
// nothing more: the consumer sees the old producer's stream, in order
// and without a gap, then the new one's, and no message twice.
func TestSPSCFencedAfterPause(t *testing.T) {
	requireLocks(t) // /proc state letters
	a, path := xpArena(t, 1<<20)
	const slots = 64
	r := xpCreate(t, a, "spsc", "fence", Config{Slots: slots, SlotSize: 16})
	defer r.Detach()
	child := xproc.StartT(t, "xp-push-forever", "path="+path, "ring=fence")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	buf := make([]byte, 16)
	next := [3]uint64{} // next expected seq per stream
	pop := func() (uint64, uint64) {
		t.Helper()
		n, err := r.Pop(ctx, buf)
		if err != nil || n != 16 {
			t.Fatalf("Pop: %d %v", n, err)
		}
		s, q := binary.LittleEndian.Uint64(buf), binary.LittleEndian.Uint64(buf[8:])
		if s < 1 || s > 2 || q != next[s] {
			t.Fatalf("message (stream %d, seq %d), want seq %d: lost, duplicated or reordered", s, q, next[s])
		}
		if s == 2 && next[1] == 0 {
			t.Fatal("the new producer's messages came before any of the old one's")
		}
		next[s]++
		return s, q
	}
	xproc.WaitFor(t, "the child to push", child, func() bool { return strings.Contains(child.Stdout(), "pushing") })
	for i := 0; i < 1000; i++ {
		pop()
	}
	if err := syscall.Kill(child.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	xproc.WaitFor(t, "the child to stop", child, func() bool { return procState(child.Pid()) == 'T' })
	// The paused producer has published up to some position; drain it.
	for {
		n, err := r.TryPop(buf)
		if err == ErrEmpty {
			break
		}
		if err != nil || n != 16 {
			t.Fatal(err)
		}
		if s, q := binary.LittleEndian.Uint64(buf), binary.LittleEndian.Uint64(buf[8:]); s != 1 || q != next[1] {
			t.Fatalf("(stream %d, seq %d), want (1, %d)", s, q, next[1])
		}
		next[1]++
	}
	// A new producer takes over and pushes a lap's worth, drained before
	// the old one resumes (whatever slot the old one was filling when it
	// stopped is consumed by then).
	msg := make([]byte, 16)
	push := func(k int) {
		for i := 0; i < k; i++ {
			binary.LittleEndian.PutUint64(msg, 2)
			binary.LittleEndian.PutUint64(msg[8:], next[2]+uint64(i))
			if err := r.Push(ctx, msg); err != nil {
				sp := r.(*SPSC)
				t.Fatalf("%v: prod %#x cons %#x tail %d headCache %d", err, loadU64(&sp.prod.Pos), loadU64(&sp.cons.Pos), sp.p.tail, sp.p.headCache)
			}
		}
	}
	push(slots / 2)
	for next[2] < slots/2 {
		pop()
	}
	if err := syscall.Kill(child.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-child.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the resumed producer did not stop")
	}
	if err := child.Err(); err != nil {
		t.Fatalf("child: %v\n%s", err, child.Stdout())
	}
	if !strings.Contains(child.Stdout(), "ring: fenced") {
		t.Fatalf("the resumed producer did not report ErrFenced:\n%s", child.Stdout())
	}
	for lap := 0; lap < 3; lap++ { // through every slot, the old one's too
		push(slots)
		for next[2] < slots/2+uint64(lap+1)*slots {
			pop()
		}
	}
	if _, err := r.TryPop(buf); err != ErrEmpty {
		t.Fatalf("after both streams: %v (the fenced producer published something)", err)
	}
	t.Logf("old producer: %d messages, new: %d; %s", next[1], next[2], strings.TrimSpace(child.Stdout()))
}

// procState is the state letter of /proc/pid/stat ('T' once stopped).
func procState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}
