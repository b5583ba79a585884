package futex_test

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/futex"
)

// A waiter sleeps until the word leaves 0; the waker changes the word first
// and wakes second, so the wake-up cannot be lost. In shmring the word lives
// in an arena region and the two sides are different processes.
func ExampleWait() {
	var ready uint32 // 0: not yet; 1: go
	done := make(chan string)
	go func() {
		// Re-check in a loop: Wait may return spuriously, or at once if the
		// word already changed. Acquire: pairs with the store below.
		for atomic.LoadUint32(&ready) == 0 {
			if err := futex.Wait(&ready, 0, 5*time.Second); err != nil {
				done <- err.Error()
				return
			}
		}
		done <- "woken"
	}()

	atomic.StoreUint32(&ready, 1) // release: publish, then wake
	if _, err := futex.WakeAll(&ready); err != nil {
		fmt.Println(err)
	}
	fmt.Println(<-done)
	// Output: woken
}
