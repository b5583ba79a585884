//go:build (!amd64 && !arm64) || !gc || purego

package spin

import "testing"

func TestHintGeneric(t *testing.T) {
	if Hint != "none" {
		t.Fatalf("generic build: Hint = %q, want %q", Hint, "none")
	}
}
