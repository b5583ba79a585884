//go:build gc && !purego

package spin

// Hint names the spin-wait instruction this build issues.
const Hint = "YIELD"
