package futex_test

import (
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/futex"
)

// TestWaitRetriesEINTR: signals delivered to the sleeping thread make
// FUTEX_WAIT fail with EINTR; Wait must sleep on for the remaining time and
// still time out at the original deadline, neither early nor with nil.
func TestWaitRetriesEINTR(t *testing.T) {
	const timeout = 300 * time.Millisecond
	var w, tid uint32
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the signals below target this thread
		defer runtime.UnlockOSThread()
		atomic.StoreUint32(&tid, uint32(unix.Gettid())) // release: publishes the tid
		done <- futex.Wait(&w, 0, timeout)
	}()
	awaitFlag(t, &tid, "waiter tid")
	start := time.Now()
	pid, target := os.Getpid(), int(atomic.LoadUint32(&tid)) // acquire: pairs with the store above
	var err error
	signals := 0
loop:
	for {
		// SIGURG is the runtime's preemption signal: always handled, and
		// harmless to a thread that is in a system call.
		if e := unix.Tgkill(pid, target, unix.SIGURG); e == nil {
			signals++
		}
		select {
		case err = <-done:
			break loop
		case <-time.After(5 * time.Millisecond):
		}
		if time.Since(start) > resultFor {
			t.Fatalf("Wait did not return within %v", resultFor)
		}
	}
	took := time.Since(start)
	t.Logf("%d signals sent; Wait returned %v after %v", signals, err, took)
	if !errors.Is(err, futex.ErrTimeout) {
		t.Fatalf("Wait under signals = %v, want ErrTimeout", err)
	}
	// start was taken after the waiter published its tid, so it can only
	// under-estimate how long the waiter slept, but by microseconds.
	if took < timeout-20*time.Millisecond {
		t.Fatalf("Wait returned after %v, before its %v timeout", took, timeout)
	}
}
