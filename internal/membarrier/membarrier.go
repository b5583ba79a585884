package membarrier

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrUnsupported: the kernel (or a filter in front of it) does not offer
// the expedited global barrier to this process.
var ErrUnsupported = errors.New("membarrier: global expedited barrier unsupported")

var (
	regOnce    sync.Once
	regErr     error
	registered atomic.Bool
)

// Register registers the process for the expedited global barrier, once
// per process; later calls return the first call's result. After it
// returns nil, every Barrier call by any process interrupts this
// process's running threads.
func Register() error {
	regOnce.Do(func() {
		regErr = register()
		registered.Store(regErr == nil)
	})
	return regErr
}

// Registered reports whether Register has succeeded in this process.
func Registered() bool { return registered.Load() }

// Barrier makes every running thread of every registered process execute
// a full memory barrier before it returns, and is a full barrier for the
// caller.
func Barrier() error { return barrier() }
