package status

import "errors"

var (
	// ErrAlreadyStarted is returned by Writer.Start while another call to Start is running.
	ErrAlreadyStarted = errors.New("status: writer already started")
	// ErrNotSynced is returned by Writer.Start when Options.Synced reports false while
	// Start's context is still live (for a watch.Feed: the feed is not running), since
	// judging proxies before the Decider has seen the cluster would write wrong statuses.
	ErrNotSynced = errors.New("status: the Decider never synced")
	// ErrMisconfigured is returned by Writer.Start when NewWriter was given a nil judge,
	// a nil reader or no Options.Client, or when its metrics could not be registered.
	ErrMisconfigured = errors.New("status: writer misconfigured")
)
