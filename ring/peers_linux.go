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
// so the pid liveness test can tell a reused pid. 0 if unknown.
var processStartTicks = sync.OnceValue(func() uint64 {
	ticks, _, _ := parseStat(os.ReadFile("/proc/self/stat"))
	return ticks
})

// procStat reads another process's start time and whether it is a zombie
// (or dead) from /proc/PID/stat; ok is false if it cannot be read.
func procStat(pid uint32) (startTicks uint64, zombie, ok bool) {
	return parseStat(os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/stat"))
}

// parseStat parses a /proc/PID/stat line: field 3 (state) and field 22
// (starttime). The command name (field 2) is in parentheses and may
// contain spaces and parentheses: fields are counted after the last ')'.
func parseStat(b []byte, err error) (startTicks uint64, zombie, ok bool) {
	if err != nil {
		return 0, false, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, false
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, false, false
	}
	v, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0, false, false
	}
	st := f[0]
	return v, len(st) == 1 && (st[0] == 'Z' || st[0] == 'X' || st[0] == 'x'), true
}
