package handlers

import (
	"encoding/json"
	"net/http"

	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/store"
)

// Headers of POST /webhooks/git, sent by `hookd hook post-receive`.
const (
	// GitDeliveryHeader carries the delivery id the hook chose, so that a
	// retried request is recognised as the same delivery.
	GitDeliveryHeader = "X-Hookd-Delivery"
	// GitSignatureHeader is Sign(secret, body), as for GitHub.
	GitSignatureHeader = "X-Hookd-Signature-256"
)

// gitHook receives `hookd hook post-receive`: POST /webhooks/git.
type gitHook struct{}

func (gitHook) source() store.Source    { return store.SourceGit }
func (gitHook) signatureHeader() string { return GitSignatureHeader }

func (gitHook) parse(r *http.Request, body []byte) (incoming, *outcome) {
	in := incoming{id: r.Header.Get(GitDeliveryHeader), event: "push", payload: body}
	if in.id == "" {
		return in, fail(http.StatusBadRequest, "missing_header", GitDeliveryHeader+" is required")
	}
	if out := checkHeaders(r, GitDeliveryHeader); out != nil {
		return incoming{}, out
	}
	var p ingest.GitPush
	if err := json.Unmarshal(body, &p); err != nil {
		return in, fail(http.StatusBadRequest, "malformed_json", "the body is not a valid push: %v", err)
	}
	if p.Repository == "" {
		return in, fail(http.StatusBadRequest, "malformed_json", "the push names no repository")
	}
	in.repository = p.Repository
	return in, nil
}
