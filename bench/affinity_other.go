//go:build !linux

package bench

import "runtime"

// pinThread only locks the thread: CPU affinity is Linux-only here.
func pinThread(cpu int) error {
	runtime.LockOSThread()
	return nil
}

func cpuTime() int64 { return 0 }

func kernelRelease() string { return runtime.GOOS }

func unpinThread() { runtime.UnlockOSThread() }
