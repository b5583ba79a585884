//go:build (amd64 || arm64) && gc && !purego

package atomicx

// StoreRelease64 atomically stores v into *addr with release ordering. It
// has the same semantics as the generic version in atomicx_generic.go under
// the package's ordering contract; it does NOT order later loads.
//
//go:noescape
func StoreRelease64(addr *uint64, v uint64)

// StoreRelease32 atomically stores v into *addr with release ordering. It
// has the same semantics as the generic version in atomicx_generic.go under
// the package's ordering contract; it does NOT order later loads.
//
//go:noescape
func StoreRelease32(addr *uint32, v uint32)

// LoadAcquire64 atomically loads *addr with acquire ordering. It has the
// same semantics as the generic version in atomicx_generic.go under the
// package's ordering contract.
//
//go:noescape
func LoadAcquire64(addr *uint64) uint64

// LoadAcquire32 atomically loads *addr with acquire ordering. It has the
// same semantics as the generic version in atomicx_generic.go under the
// package's ordering contract.
//
//go:noescape
func LoadAcquire32(addr *uint32) uint32

// Fence is a full memory fence, including StoreLoad ordering (MFENCE on
// amd64, DMB ISH on arm64). It has the same semantics as the generic
// version in atomicx_generic.go.
func Fence()
