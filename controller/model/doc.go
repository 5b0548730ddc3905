// Package model is Warden's routing model: plain, sorted data describing what Envoy must
// serve (virtual hosts → routes → clusters → endpoints, plus the TLS secrets they name),
// built from the accepted set of HTTPProxies and the Services, EndpointSlices and Secrets
// they reference.
//
// It is the middle stage of the translation pipeline (DESIGN.md; STYLE.md R2): the
// controller feeds it the objects that policy accepted, and the xds package translates it
// into Envoy resources. This package therefore imports neither policy nor webhook, and xds
// needs nothing but this package and go-control-plane.
//
// Semantics follow Contour's HTTPProxy processor (reference/contour-semantics.md §2): includes
// are walked depth-first from each root with their conditions merged into the children's
// routes; a missing include target or an include of a root becomes a 502 route for the
// include's merged conditions; a route whose every backend is unresolved becomes a 503; an
// error inside a proxy drops that proxy's contribution (and its subtree) in that traversal,
// as Contour does. Where Warden deliberately differs, the doc comment says so.
//
// Build is a pure function: no context, no API calls, no clocks, and its output is sorted
// so that the same input always gives the same Model. For changes that touch only some
// include trees, Model.Index says which vhosts an object's change affects, and
// Model.Rebuild (or BuildVirtualHost then Model.Replace) rebuilds just those;
// Model.RefreshEndpoints handles EndpointSlice changes, which never need a vhost rebuilt.
// The result equals a full Build of the same input.
//
// Features of the HTTPProxy API that the model does not carry yet (TCPProxy, CORS,
// authorization, rate limits, JWT, IP filters, cookie rewriting, per-service header policies,
// slow start, …) are never dropped silently: each occurrence is listed in
// Model.Unsupported.
//
// The package is importable but has no API stability guarantee: it is internal to Warden.
package model
