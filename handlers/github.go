package handlers

import (
	"mime"
	"net/http"
	"net/url"

	gh "github.com/go-playground/webhooks/v6/github"

	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/store"
)

// github receives GitHub webhooks: POST /webhooks/github.
type github struct{}

func (github) source() store.Source    { return store.SourceGitHub }
func (github) signatureHeader() string { return "X-Hub-Signature-256" }

func (github) parse(r *http.Request, body []byte) (incoming, *outcome) {
	in := incoming{id: r.Header.Get("X-GitHub-Delivery"), event: r.Header.Get("X-GitHub-Event")}
	if in.id == "" || in.event == "" {
		return in, fail(http.StatusBadRequest, "missing_header", "X-GitHub-Delivery and X-GitHub-Event are required")
	}
	if out := checkHeaders(r, "X-GitHub-Delivery", "X-GitHub-Event"); out != nil {
		return incoming{}, out
	}
	// A hook created with content type "application/x-www-form-urlencoded"
	// signs the form body and carries the JSON in its payload field.
	in.payload = body
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil || !form.Has("payload") {
			return in, fail(http.StatusBadRequest, "malformed_form", "a form-encoded delivery needs a payload field")
		}
		in.payload = []byte(form.Get("payload"))
	}
	// Read once, before the signature is verified, to choose the secret:
	// nothing here is acted on until then.
	pv, err := ingest.PreviewGitHub(in.event, in.payload)
	if err != nil {
		return in, fail(http.StatusBadRequest, "malformed_json", "%v", err)
	}
	if pv.Repository == "" {
		return in, fail(http.StatusNotFound, "unknown_repository",
			"the payload names no repository: hookd takes repository webhooks (not organization or app-wide ones)")
	}
	in.repository = pv.Repository
	in.ping = gh.Event(in.event) == gh.PingEvent
	in.ignored = pv.Ignore
	if in.ping {
		in.ignored = "ping: the webhook reaches hookd"
		if id := r.Header.Get("X-GitHub-Hook-ID"); id != "" {
			in.ignored += " (hook " + id + ")"
		}
	}
	in.kept = pv.Kept
	in.announces = pv.Announces
	return in, nil
}
