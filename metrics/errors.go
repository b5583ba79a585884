package metrics

import "errors"

// ErrInvalid: New was given a Config it cannot use (the error says which
// field and why).
var ErrInvalid = errors.New("metrics: invalid config")
