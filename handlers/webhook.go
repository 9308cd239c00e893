package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hookd-dev/hookd/store"
)

// MaxBodyBytes is GitHub's cap on a webhook payload (it does not deliver
// larger ones); hookd refuses anything larger before reading it all.
const MaxBodyBytes = 25 << 20

// sender is what differs between the webhook endpoints: where a delivery's
// id, event, repository and signature are found in the request.
type sender interface {
	source() store.Source
	signatureHeader() string
	// parse reads the delivery out of a request whose body has been read
	// (but not verified: nothing it returns may be acted on yet).
	parse(r *http.Request, body []byte) (incoming, *outcome)
}

// incoming is a delivery as read from a request.
type incoming struct {
	id, event, repository string
	payload               []byte // what is stored: the signed JSON
	ping                  bool   // GitHub's hook check: stored as ignored, answered 200
	ignored               string // why hookd does nothing with it ("" if it acts)
	// kept replaces payload in the store for an ignored delivery: what
	// hookd reads of it, enough for a replay (nil: keep payload).
	kept []byte
	// announces is the tag a push names, if the store may find it known.
	announces *store.AnnouncedTag
}

// outcome is how a delivery ended: what the client is told and what the
// logs and metrics count.
type outcome struct {
	status  int
	name    string // metric label; the error code for failures
	message string // for failures
	err     error  // for the log only
	// bodyHeld: the store may still read the body, whose buffer must not
	// be reused.
	bodyHeld bool
}

func fail(status int, code, format string, args ...any) *outcome {
	return &outcome{status: status, name: code, message: fmt.Sprintf(format, args...)}
}

// maxHeaderValue bounds the headers a delivery is stored under (GitHub's
// delivery ids are 36-character GUIDs).
const maxHeaderValue = 256

// checkHeaders refuses a delivery whose named headers the store could not
// keep as text: not UTF-8 (PostgreSQL would refuse it on every
// redelivery), control characters, or overly long.
func checkHeaders(r *http.Request, names ...string) *outcome {
	for _, name := range names {
		v := r.Header.Get(name)
		if len(v) > maxHeaderValue || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return fail(http.StatusBadRequest, "bad_header", "%s must be printable UTF-8 of at most %d bytes", name, maxHeaderValue)
		}
	}
	return nil
}

// webhook is the ingress flow shared by every sender: bounded read, parse,
// find the repository's secret, verify, then store.
func (h *Handler) webhook(s sender) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Uploads of large payloads from slow links take a while; this
		// shows which requests are in progress.
		h.log.DebugContext(r.Context(), "webhook request started", "source", string(s.source()),
			"remote", r.RemoteAddr, "content_length", r.ContentLength)
		in, out := h.receive(w, r, s)
		if out.status >= 400 {
			writeError(w, out.status, out.name, out.message)
		} else {
			writeJSON(w, out.status, map[string]string{"status": out.name, "delivery": in.id})
		}
		h.metrics.deliveries.WithLabelValues(string(s.source()), out.name).Inc()

		// An accepted delivery is routine, at debug level: what an operator
		// needs of it is stored (deliveries in the API) and counted
		// (metrics); a line each cost 2 % of the CPU under load. Refusals
		// stay visible.
		level := slog.LevelDebug
		switch {
		case out.status >= 500:
			level = slog.LevelError
		case out.status >= 400:
			level = slog.LevelWarn
		}
		if !h.log.Enabled(r.Context(), level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("source", string(s.source())),
			slog.String("delivery", in.id),
			slog.String("repository", in.repository),
			slog.String("event", in.event),
			slog.String("outcome", out.name),
			slog.Int("status", out.status),
			slog.Duration("latency", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		}
		if out.message != "" {
			attrs = append(attrs, slog.String("message", out.message))
		}
		if out.err != nil {
			attrs = append(attrs, slog.Any("error", out.err))
		}
		h.log.LogAttrs(r.Context(), level, "webhook delivery", attrs...)
	})
}

func (h *Handler) receive(w http.ResponseWriter, r *http.Request, s sender) (incoming, *outcome) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return incoming{}, fail(http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
	}
	body, release, out := h.readBody(w, r)
	// A store that failed to answer may hold the body still (see accept).
	reuse := true
	defer func() { release(reuse) }()
	if out != nil {
		return incoming{}, out
	}
	in, out := s.parse(r, body)
	if out != nil {
		return in, out
	}
	in.repository = h.repositoryName(in.repository)
	sig := r.Header.Get(s.signatureHeader())
	if sig == "" {
		return in, fail(http.StatusUnauthorized, "missing_signature",
			"missing %s header: hookd accepts only HMAC-SHA256-signed deliveries", s.signatureHeader())
	}
	// A repository that is not configured is answered as a bad signature,
	// after the same work, so that no request can tell which repositories
	// are; the log says which it was.
	secret, known := h.secret(in.repository)
	if !verify(secret, sig, body) || !known {
		out := fail(http.StatusUnauthorized, "bad_signature",
			"%s does not match the body: check that the webhook secret equals the one configured in hookd for its repository, and that the repository is configured", s.signatureHeader())
		if !known {
			out.err = fmt.Errorf("repository %q is not configured in hookd; add it under repositories: (with its secret) and reload with SIGHUP", in.repository)
		}
		return in, out
	}
	out = h.accept(r.Context(), s.source(), in)
	reuse = !out.bodyHeld
	return in, out
}

// accept stores a verified delivery; only a committed delivery gets a 2xx.
func (h *Handler) accept(ctx context.Context, src store.Source, in incoming) *outcome {
	d := store.Delivery{ID: in.id, Source: src, Event: in.event, Repository: in.repository, Body: in.payload, Announces: in.announces}
	name := "accepted"
	if in.ignored != "" {
		d.Status, d.Reason, name = store.DeliveryIgnored, in.ignored, "ignored"
		if in.kept != nil {
			d.Body = in.kept
		}
	}
	// GitHub sends a delivery id once, except when someone presses
	// Redeliver: they want it processed again. The hook's id repeats only
	// when it retries a request, which is the same delivery.
	d.ProcessAgain = src == store.SourceGitHub && in.ignored == ""
	// The client's disconnect must not abandon a delivery already handed
	// to the writer; the timeout still answers before GitHub gives up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.acceptTimeout)
	defer cancel()
	res, err := h.store.Accept(ctx, d)
	switch {
	case err != nil:
		// Accept may have returned while its writer still has d.
		return &outcome{status: http.StatusServiceUnavailable, name: "store_unavailable",
			message: "the delivery could not be stored; redeliver it later", err: err, bodyHeld: true}
	case res.Requeued:
		return &outcome{status: http.StatusAccepted, name: "redelivered"}
	case res.Duplicate:
		return &outcome{status: http.StatusOK, name: "duplicate"}
	case in.ping:
		// Recorded like any delivery, so that whoever set the hook up sees
		// it arrived; answered 200 as a ping always was.
		return &outcome{status: http.StatusOK, name: "ping"}
	case res.Known:
		return &outcome{status: http.StatusAccepted, name: "known_tag"}
	}
	return &outcome{status: http.StatusAccepted, name: name}
}

// Sign returns the signature header value for body: "sha256=" and the
// lowercase hex HMAC-SHA256 keyed with secret, as GitHub computes it.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// verify checks a "sha256=<hex>" signature in constant time.
func verify(secret, header string, body []byte) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sum, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(sum, m.Sum(nil))
}
