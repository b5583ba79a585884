//go:build !linux

package spin

// pinThread is a no-op where thread affinity is not set.
func pinThread(int) {}
