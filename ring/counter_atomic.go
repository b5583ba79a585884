//go:build race || !(amd64 || arm64 || ppc64 || ppc64le || riscv64 || loong64 || mips64 || mips64le || s390x)

package ring

import "sync/atomic"

// addIn, addOut and addEmpty: see counter_plain.go. Here (race builds, and
// 32-bit platforms, where a plain 64-bit store may be two) locked adds.
func (e *peerEntry) addIn(n, nbytes uint64) {
	atomic.AddUint64(&e.MsgsIn, n)
	atomic.AddUint64(&e.BytesIn, nbytes)
}

func (e *peerEntry) addOut(n, nbytes uint64) {
	atomic.AddUint64(&e.MsgsOut, n)
	atomic.AddUint64(&e.BytesOut, nbytes)
}

func (e *peerEntry) addEmpty() { atomic.AddUint64(&e.EmptyEvents, 1) }
