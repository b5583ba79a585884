//go:build (!amd64 && !arm64) || !gc || purego

package atomicx

import "sync/atomic"

// fenceWord is the target of Fence's read-modify-write; its value is never
// read.
var fenceWord uint64

// StoreRelease64 atomically stores v into *addr with release ordering.
//
// This is the reference version: it is sync/atomic.StoreUint64, which is
// sequentially consistent and so stronger than the contract promises. Code
// must not rely on the extra strength: the assembly versions do NOT order
// later loads.
func StoreRelease64(addr *uint64, v uint64) {
	atomic.StoreUint64(addr, v) // release (in fact seq-cst): publishes prior writes
}

// StoreRelease32 atomically stores v into *addr with release ordering.
// Reference version: sync/atomic.StoreUint32; see StoreRelease64.
func StoreRelease32(addr *uint32, v uint32) {
	atomic.StoreUint32(addr, v) // release (in fact seq-cst): publishes prior writes
}

// LoadAcquire64 atomically loads *addr with acquire ordering.
// Reference version: sync/atomic.LoadUint64.
func LoadAcquire64(addr *uint64) uint64 {
	return atomic.LoadUint64(addr) // acquire: pairs with the release store that wrote the value
}

// LoadAcquire32 atomically loads *addr with acquire ordering.
// Reference version: sync/atomic.LoadUint32.
func LoadAcquire32(addr *uint32) uint32 {
	return atomic.LoadUint32(addr) // acquire: pairs with the release store that wrote the value
}

// Fence is a full memory fence, including StoreLoad ordering.
//
// Reference version: an atomic add to a package-level word. Every
// sync/atomic read-modify-write is sequentially consistent, so no load after
// it can be performed before a store preceding it becomes visible; on x86
// (386) it compiles to a LOCK-prefixed instruction, which the architecture
// defines as a full fence. Concurrent callers contend on one cache line;
// that is acceptable for a fallback.
func Fence() {
	atomic.AddUint64(&fenceWord, 1) // full fence: a seq-cst RMW orders all prior stores before all later loads
}
