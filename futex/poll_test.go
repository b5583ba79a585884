package futex

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestPollWait checks the polling fallback (used where Supported is false)
// on every platform, Linux included.
func TestPollWait(t *testing.T) {
	tests := []struct {
		name      string
		word, val uint32
		timeout   time.Duration
		store     uint32 // if non-zero, stored into the word after 5ms
		want      error
	}{
		{"differs", 1, 0, -1, 0, nil},
		{"equal/zero timeout", 3, 3, 0, 0, ErrTimeout},
		{"equal/20ms", 3, 3, 20 * time.Millisecond, 0, ErrTimeout},
		{"changed by peer/no timeout", 0, 0, -1, 1, nil},
		{"changed by peer/timeout", 0, 0, 10 * time.Second, 9, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := new(uint32)
			*w = tt.word
			if tt.store != 0 {
				timer := time.AfterFunc(5*time.Millisecond, func() {
					atomic.StoreUint32(w, tt.store) // release: pollWait's load acquires it
				})
				defer timer.Stop()
			}
			start := time.Now()
			err := pollWait(w, tt.val, tt.timeout)
			took := time.Since(start)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("pollWait = %v, want %v", err, tt.want)
			}
			if tt.want != nil && took < tt.timeout {
				t.Fatalf("timed out after %v, before %v", took, tt.timeout)
			}
			if took > tt.timeout+2*time.Second && tt.timeout >= 0 || tt.timeout < 0 && took > 2*time.Second {
				t.Fatalf("took %v", took)
			}
		})
	}
}
