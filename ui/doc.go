// Package ui owns hookd's web dashboard, served by `hookd serve` under
// /ui/: the model registry as GTO users know it from Studio (the Models
// table with a column per stage, each model's Versions, Stages and
// History, the Assign stage / Promote dialog and the other GTO writes),
// and what none of them shows: each environment's desired and deployed
// state, the deploy runs, the webhook deliveries and the audit log.
//
// # Where it reads and writes
//
// Pages read only what hookd stores. A repository's registry is built
// from its stored tags (package ingest's Registry over Store.Tags) with the
// repository's `.gto` and artifacts index, and kept until the tags'
// fingerprint (Store.TagsVersion) changes; the two files are read through
// the repository's source at most once a minute, in the background, so
// no page view lists tags from git or GitHub; a change is built in the
// background while pages keep the registry built before. Each environment's
// desired and deployed state is the store's lane; its newest and last
// successful run are kept per repository and brought up to date from the
// runs changed since the last look. Deliveries, runs, events and the audit
// log are read a page at a time through the store's keyset paging, which
// stays fast however many are stored.
//
// Writes take the companion API's path: package change carries them out
// (scopes, GTO's rules, the promotion order, the audit log, with the
// principal "via dashboard"), and retry and replay call the store as the
// operations API does. The dialog's preview plans the write against the
// stored registry with change.Preview, so it says what Do would answer.
//
// # Signing in
//
// A user signs in with an API token and has exactly its scopes; what the
// token may not do is not offered, and is refused (403, nothing written)
// when posted anyway. The session cookie holds the token itself: every
// request is checked against the configured tokens as an API call is, so
// a session works on every replica behind a load balancer and ends the
// moment its token is removed from the configuration. It is HttpOnly,
// SameSite=Strict, limited to /ui/, Secure over TLS or when public_url is
// https, and expires after [sessionLifetime]. Each form carries a CSRF
// token derived from the session's token with HMAC (a random one in a
// cookie of its own for the sign-in form), checked in constant time.
//
// Responses carry a Content-Security-Policy that allows scripts and styles
// from /ui/static/ only (no inline script or style, no eval) and no
// framing.
//
// # Live updates: polling
//
// Tables and run pages that change on their own (models and their stages,
// history and environments, runs, deliveries) are re-fetched by htmx
// every few seconds (hx-trigger="every 2s") and swapped in place. Polling
// rather than server-sent events because the server's write timeout
// (90 s, which protects it from slow clients) would cut a long-lived
// stream; because on SQLite, and across replicas, there is no change feed
// to push from (River itself polls there), so a stream would poll the
// database inside the server anyway; and because each poll is one indexed
// query plus a cached registry, far below the 50 ms a page may cost.
//
// # Assets
//
// Templates, htmx 2.0.11 (from the npm package htmx.org, BSD Zero Clause
// licence, static/htmx.LICENSE) and the one stylesheet are embedded in
// the binary; there is no JavaScript build step.
package ui
