//go:build !race && (amd64 || arm64 || ppc64 || ppc64le || riscv64 || loong64 || mips64 || mips64le || s390x)

package ring

// storeCounter stores a counter word of the handle's own entry, which only
// the calling side writes and monitors load atomically: a plain store,
// which on these 64-bit platforms is one aligned 8-byte store instruction
// (never torn; no ordering is needed, a counter orders nothing). The race
// build uses sync/atomic (counter_atomic.go), since the detector would see
// a plain store racing a monitor's atomic load.
func storeCounter(p *uint64, v uint64) { *p = v }
