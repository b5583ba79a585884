//go:build (amd64 || arm64) && gc && !purego

package spin

import (
	"runtime"
	"testing"
)

func TestHintMatchesGOARCH(t *testing.T) {
	want := map[string]string{"amd64": "PAUSE", "arm64": "YIELD"}[runtime.GOARCH]
	if Hint != want {
		t.Fatalf("GOARCH=%s: Hint = %q, want %q", runtime.GOARCH, Hint, want)
	}
}
