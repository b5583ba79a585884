//go:build !race && (amd64 || arm64 || ppc64 || ppc64le || riscv64 || loong64 || mips64 || mips64le || s390x)

package ring

// addIn, addOut and addEmpty count an operation of a single-threaded side
// into e, the side's own entry (or its private spill entry: pending),
// with plain adds: this side is the only writer of these words, so the
// read-modify-write needs no locked instruction, and on these 64-bit
// platforms the store is one aligned 8-byte store, never torn (monitors
// load the words atomically; a counter orders nothing). They inline into
// the hot paths. The race build (counter_atomic.go) uses sync/atomic
// instead, since the detector would see a plain store racing a monitor's
// atomic load.
func (e *peerEntry) addIn(n, nbytes uint64) {
	e.MsgsIn += n
	e.BytesIn += nbytes
}

func (e *peerEntry) addOut(n, nbytes uint64) {
	e.MsgsOut += n
	e.BytesOut += nbytes
}

func (e *peerEntry) addEmpty() { e.EmptyEvents++ }
