package arena

import "time"

// backoff paces a polling loop: sleeps that double from a minimum to a cap,
// until a deadline.
type backoff struct {
	deadline   time.Time
	sleep, max time.Duration
}

func newBackoff(timeout, first, max time.Duration) backoff {
	return backoff{deadline: time.Now().Add(timeout), sleep: first, max: max}
}

// wait sleeps and reports true, or reports false if the deadline has
// passed.
func (b *backoff) wait() bool {
	if !time.Now().Before(b.deadline) {
		return false
	}
	time.Sleep(b.sleep)
	b.sleep = min(2*b.sleep, b.max)
	return true
}
