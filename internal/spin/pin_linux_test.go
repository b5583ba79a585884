//go:build linux

package spin

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// pinThread restricts the calling thread (which must be locked to its
// goroutine) to CPU i modulo the CPUs this process may use; best effort.
func pinThread(i int) {
	var cur unix.CPUSet
	if runtime.NumCPU() < 2 || unix.SchedGetaffinity(0, &cur) != nil {
		return
	}
	var allowed []int
	for c := range 1024 {
		if cur.IsSet(c) {
			allowed = append(allowed, c)
		}
	}
	if len(allowed) < 2 {
		return
	}
	var set unix.CPUSet
	set.Set(allowed[i%len(allowed)])
	_ = unix.SchedSetaffinity(0, &set)
}
