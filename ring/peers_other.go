//go:build !linux

package ring

// processStartTicks is unknown off Linux.
func processStartTicks() uint64 { return 0 }

// procStat has no /proc to read off Linux.
func procStat(pid uint32) (startTicks uint64, zombie, ok bool) { return 0, false, false }
