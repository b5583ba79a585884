package procfs

import (
	"bytes"
	"os"
	"strconv"
)

// Stat reads process pid's start time (clock ticks since boot) and whether
// it is a zombie or dead, from /proc/PID/stat; ok is false if it cannot be
// read.
func Stat(pid int) (startTicks uint64, zombie, ok bool) {
	return ParseStat(os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"))
}

// Self is Stat of the calling process (/proc/self/stat).
func Self() (startTicks uint64, ok bool) {
	t, _, ok := ParseStat(os.ReadFile("/proc/self/stat"))
	return t, ok
}

// ParseStat parses a /proc/PID/stat line, as os.ReadFile returns it: field
// 3 (state) and field 22 (starttime). The command name (field 2) is in
// parentheses and may itself contain spaces and parentheses, so fields are
// counted after the last ')'.
func ParseStat(b []byte, err error) (startTicks uint64, zombie, ok bool) {
	if err != nil {
		return 0, false, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 { // f[0] is field 3, f[19] field 22
		return 0, false, false
	}
	v, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0, false, false
	}
	st := f[0]
	return v, len(st) == 1 && (st[0] == 'Z' || st[0] == 'X' || st[0] == 'x'), true
}
