//go:build (amd64 || arm64) && gc && !purego

package spin

// Pause issues one spin-wait hint (PAUSE on amd64, YIELD on arm64) and
// returns. It has the same semantics as the generic version in
// pause_generic.go: no effect other than a short delay.
func Pause()

// PauseN issues n spin-wait hints in a loop and returns; n <= 0 issues none.
// It has the same semantics as the generic version in pause_generic.go.
func PauseN(n int)
