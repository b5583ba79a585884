package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// streamDuplicates is the duplicate window of a stream the bridge
// creates: JetStream drops a message whose Nats-Msg-Id it stored within
// it. Beyond it, In's own dedupe still drops the message.
const streamDuplicates = 2 * time.Minute

// ensureStream makes sure a stream captures subject: the named one
// (created with file storage if it does not exist), or, with no name, any
// existing one. It returns the stream's name.
func ensureStream(ctx context.Context, js jetstream.JetStream, name, subject string) (string, error) {
	for {
		n, err := ensureStream1(ctx, js, name, subject)
		if err == nil || !retryable(err) {
			return n, err
		}
		// The server is restarting or JetStream is not ready yet.
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return "", fmt.Errorf("bridge: stream for %q: %w", subject, err)
		}
	}
}

func ensureStream1(ctx context.Context, js jetstream.JetStream, name, subject string) (string, error) {
	if name == "" {
		n, err := js.StreamNameBySubject(ctx, subject)
		if err != nil {
			return "", fmt.Errorf("bridge: no stream captures %q (name one to create it): %w", subject, err)
		}
		return n, nil
	}
	_, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:       name,
			Subjects:   []string{subject},
			Storage:    jetstream.FileStorage,
			Duplicates: streamDuplicates,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // the other side created it meanwhile
		}
	}
	if err != nil {
		return "", fmt.Errorf("bridge: stream %q: %w", name, err)
	}
	return name, nil
}

// retryable says whether a JetStream API error may pass by itself (the
// server away or restarting).
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code >= 500 || apiErr.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabled
	}
	return !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, context.Canceled)
}
