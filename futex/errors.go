package futex

import (
	"fmt"
	"os"
)

// Sentinel errors. Wait and Wake return one of these, nil, or a kernel errno
// wrapped as "futex: wait: %w" / "futex: wake: %w" (test those with
// errors.Is against syscall.Errno values).
var (
	// ErrTimeout: Wait's timeout passed while the word still held val. It
	// also matches os.ErrDeadlineExceeded, so code that already handles
	// deadline errors from files and sockets handles it too.
	ErrTimeout = fmt.Errorf("futex: wait timed out: %w", os.ErrDeadlineExceeded)
	// ErrNilAddress: addr is nil. It also matches os.ErrInvalid.
	ErrNilAddress = fmt.Errorf("futex: nil address: %w", os.ErrInvalid)
	// ErrUnaligned: addr is not 4-byte aligned; the kernel would reject it
	// with EINVAL and the atomics callers use on the word would fault on
	// some architectures. It also matches os.ErrInvalid.
	ErrUnaligned = fmt.Errorf("futex: address not 4-byte aligned: %w", os.ErrInvalid)
)
