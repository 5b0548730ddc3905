package watch

import "errors"

var (
	// ErrNotStarted is returned by Feed.Ready before Feed.Start has registered the handlers.
	ErrNotStarted = errors.New("watch: feed not started")
	// ErrAlreadyStarted is returned by a second call to Feed.Start.
	ErrAlreadyStarted = errors.New("watch: feed already started")
	// ErrStopped is returned by Feed.Ready once the context given to Feed.Start is done and
	// the handlers have been removed.
	ErrStopped = errors.New("watch: feed stopped")
	// ErrNotSynced is wrapped by the error Feed.Ready returns while some informer has not
	// synced or its initial list has not been applied yet; the message names those kinds.
	ErrNotSynced = errors.New("watch: not synced yet")
)
