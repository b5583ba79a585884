//go:build linux

package ring

import (
	"bytes"
	"os"
	"strconv"
	"sync"
)

// processStartTicks is this process's start time in clock ticks since boot
// (field 22 of /proc/self/stat): with the pid it names a process uniquely,
// so a later dead-peer check can tell a reused pid. 0 if unknown.
var processStartTicks = sync.OnceValue(func() uint64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may contain spaces:
	// count fields after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0
	}
	v, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0
	}
	return v
})
