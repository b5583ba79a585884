package membarrier

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Commands of membarrier(2) (linux/membarrier.h).
const (
	cmdQuery                   = 0
	cmdGlobalExpedited         = 1 << 1
	cmdRegisterGlobalExpedited = 1 << 2
)

func call(cmd int) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_MEMBARRIER, uintptr(cmd), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func register() error {
	cmds, err := call(cmdQuery)
	if err != nil {
		return fmt.Errorf("%w: query: %v", ErrUnsupported, err)
	}
	if cmds&cmdGlobalExpedited == 0 || cmds&cmdRegisterGlobalExpedited == 0 {
		return fmt.Errorf("%w: kernel offers commands %#x", ErrUnsupported, cmds)
	}
	if _, err := call(cmdRegisterGlobalExpedited); err != nil {
		return fmt.Errorf("%w: register: %v", ErrUnsupported, err)
	}
	return nil
}

func barrier() error {
	if _, err := call(cmdGlobalExpedited); err != nil {
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return nil
}
