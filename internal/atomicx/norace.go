//go:build !race

package atomicx

// Race reports whether the binary was built with the race detector, which
// does not see the assembly accesses of this package; see the package
// documentation.
const Race = false
