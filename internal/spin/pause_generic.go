//go:build (!amd64 && !arm64) || !gc || purego

package spin

// Hint names the spin-wait instruction this build issues.
const Hint = "none"

// Pause issues one spin-wait hint and returns. This build has no hint
// instruction, so Pause returns at once. It is the reference for the
// assembly versions: no effect other than (there) a short delay.
func Pause() {}

// PauseN issues n spin-wait hints and returns; n <= 0 issues none. This
// build has no hint instruction, so PauseN returns at once.
func PauseN(n int) {}
