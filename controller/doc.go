// Package controller turns what is stored in the cluster into what Envoy serves. Its
// Pipeline keeps the accepted set (the HTTPProxies policy.Decider.Judge accepts) and the
// routing model built from it (controller/model) current, incrementally, and hands each new
// model to a Publisher (the xDS layer). It runs on every replica: all of them serve xDS.
// Status writing, leader-only, is in controller/status.
//
// The package has no API stability guarantee.
package controller
