//go:build race || !(amd64 || arm64 || ppc64 || ppc64le || riscv64 || loong64 || mips64 || mips64le || s390x)

package ring

import "sync/atomic"

// storeCounter: see counter_plain.go. Here (race builds, and 32-bit
// platforms, where a plain 64-bit store may be two) a sequentially
// consistent store.
func storeCounter(p *uint64, v uint64) { atomic.StoreUint64(p, v) }
