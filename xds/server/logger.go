package server

import (
	"github.com/envoyproxy/go-control-plane/pkg/log"
	"github.com/go-logr/logr"
)

// Verbosity of go-control-plane's levels once mapped to logr (R10: V(1) state changes, V(2)
// flow, V(3+) debug).
const (
	// infoVerbosity: go-control-plane's Infof reports per-watch flow ("open delta watch",
	// "Skipping request as nonce is stale"), far too chatty for V(0).
	infoVerbosity = 2
	// debugVerbosity: go-control-plane's Debugf reports every request and response.
	debugVerbosity = 4
)

// NewLogger adapts l to go-control-plane's printf-style log.Logger, for sotw.WithLogger
// and for the caches (cache.NewSnapshotCache, cache.WithLogger). go-control-plane passes a
// format and its arguments; the format, a constant in go-control-plane's source, becomes the
// log message and the arguments are logged under the key "args", so that messages stay
// constant (R10) and nothing is lost.
//
// Levels: Debugf is V(4), Infof V(2), Warnf V(0), Errorf an error without an error value.
func NewLogger(l logr.Logger) log.Logger {
	printf := func(level int) func(string, ...any) {
		return func(format string, args ...any) {
			l.V(level).Info(format, argsKV(args)...)
		}
	}
	return log.LoggerFuncs{
		DebugFunc: printf(debugVerbosity),
		InfoFunc:  printf(infoVerbosity),
		WarnFunc:  printf(0),
		ErrorFunc: func(format string, args ...any) {
			l.Error(nil, format, argsKV(args)...)
		},
	}
}

// argsKV returns the key/value pair logging a format's arguments, or nothing when there are
// none.
func argsKV(args []any) []any {
	if len(args) == 0 {
		return nil
	}
	return []any{"args", args}
}
