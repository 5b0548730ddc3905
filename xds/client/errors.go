package client

import (
	"errors"
	"strings"
)

// ErrAlreadyRun is returned by Run when the Client has already been run: a Client serves one
// stream.
var ErrAlreadyRun = errors.New("xDS client has already been run")

// ErrStopped is returned (wrapped) by WaitFor when Run has returned, so that the state will
// not change any more. The error also wraps the error Run returned, if any.
var ErrStopped = errors.New("the xDS stream has ended")

// IncompleteError is returned by CheckComplete: the state lacks resources that others
// reference, or a response that Envoy waits for before it starts.
type IncompleteError struct {
	// Missing describes each missing resource and what references it, sorted, e.g.
	// `secret "s" (listener "ingress_https" filter chain 0)`.
	Missing []string
}

func (e *IncompleteError) Error() string {
	return "incomplete xDS state, missing: " + strings.Join(e.Missing, "; ")
}
