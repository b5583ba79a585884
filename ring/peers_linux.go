//go:build linux

package ring

import (
	"sync"

	"github.com/shmring/shmring/internal/procfs"
)

// processStartTicks is this process's start time in clock ticks since boot
// (field 22 of /proc/self/stat): with the pid it names a process uniquely,
// so the pid liveness test can tell a reused pid. 0 if unknown.
var processStartTicks = sync.OnceValue(func() uint64 {
	ticks, _ := procfs.Self()
	return ticks
})

// procStat reads another process's start time and whether it is a zombie
// (or dead) from /proc/PID/stat; ok is false if it cannot be read.
func procStat(pid uint32) (startTicks uint64, zombie, ok bool) {
	return procfs.Stat(int(pid))
}
