package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/chatops"
)

// Chat configures chat commands: Slack's slash command on /chat/slack and
// the generic command endpoint /api/v1/command.
type Chat struct {
	// Repository is what commands act on unless they say --repo (or, on
	// /api/v1/command, name a repository).
	Repository string
	// Slack configures /chat/slack; nil: the route answers 404.
	Slack *Slack
}

// Slack configures Slack's slash command.
type Slack struct {
	// SigningSecret is the Slack app's signing secret.
	SigningSecret string
	// Users maps Slack user ids to who they are in hookd and what they
	// may do; anyone else is refused.
	Users map[string]access.Principal
	// AckAfter is how long a command may run before hookd answers
	// "working on it" and posts the result to the request's response_url
	// when it is done (default DefaultSlackAckAfter: Slack gives up after
	// 3 seconds).
	AckAfter time.Duration
}

// Slack's limits and hookd's bounds on chat commands.
const (
	// SlackWindow is how far a request's timestamp may be from now, either
	// way, as Slack's documentation asks.
	SlackWindow = 5 * time.Minute
	// DefaultSlackAckAfter leaves half a second of Slack's 3 to answer.
	DefaultSlackAckAfter = 2500 * time.Millisecond
	// maxCommandBody bounds a chat request's body; Slack's slash commands
	// carry at most a few kilobytes.
	maxCommandBody = 64 << 10
	// commandTimeout bounds running one command or API write: under hookd
	// serve's 90 s write timeout, so that one answered in its request still
	// gets its answer through.
	commandTimeout = 75 * time.Second
	// responseURLTimeout bounds posting a late answer to Slack.
	responseURLTimeout = 10 * time.Second
)

// Nonces remembers single-use keys until they expire; *store.Store has it.
// Signed Slack requests are used once each, across replicas sharing the
// store.
type Nonces interface {
	ClaimNonce(ctx context.Context, key string, expires time.Time) (fresh bool, err error)
}

// SetChat replaces the chat configuration at once, as SetSecrets does.
func (h *Handler) SetChat(c Chat) { h.chat.Store(&c) }

func (h *Handler) chatConfig() Chat {
	if c := h.chat.Load(); c != nil {
		return *c
	}
	return Chat{}
}

// chatRoutes registers Slack's slash command and the generic command
// endpoint.
func (h *Handler) chatRoutes() {
	h.mux.Handle("/chat/slack", h.timed("chat_slack", methods{http.MethodPost: h.slackCommand}))
	h.mux.Handle("/api/v1/command", h.timed("api_command", h.authenticated(methods{http.MethodPost: h.command})))
}

// commandRequest is the body of POST /api/v1/command.
type commandRequest struct {
	Text       string `json:"text"`
	Repository string `json:"repository"`
}

// commandReply is its answer. Every command that was read and run is
// answered 200, whether it succeeded or not: ok tells, error classifies a
// failure as the API's error codes do ("usage" for text that is not a
// command) and text says it for people.
type commandReply struct {
	OK    bool     `json:"ok"`
	Text  string   `json:"text"`
	Tags  []string `json:"tags"`
	Error string   `json:"error,omitempty"`
}

// command runs a chat command for an API token: for bots of other chat
// services, which authenticate their users themselves.
func (h *Handler) command(w http.ResponseWriter, r *http.Request) {
	if h.changes == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "hookd runs without a change service; commands are not available")
		return
	}
	var req commandRequest
	if !readCommandJSON(w, r, &req) {
		return
	}
	chat := h.chatConfig()
	runner := &chatops.Runner{Changes: h.changes, Repository: chat.Repository, Via: "command"}
	if req.Repository != "" {
		runner.Repository = req.Repository
	}
	// As a REST write: once accepted, a command is carried out whole even
	// if the bot hangs up, never stopped between its tags and their record.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), commandTimeout)
	defer cancel()
	reply := runner.Run(ctx, principal(r), req.Text)
	tags := reply.Tags
	if tags == nil {
		tags = []string{}
	}
	writeJSON(w, http.StatusOK, commandReply{OK: reply.OK, Text: reply.Text, Tags: tags, Error: reply.Code})
}

// readCommandJSON decodes a small JSON body strictly; it answers 413 or
// 422 and returns false when it cannot.
func readCommandJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCommandBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over %d bytes", maxCommandBody))
		return false
	case err != nil:
		writeError(w, http.StatusUnprocessableEntity, "invalid_json",
			`send {"text": "assign NAME VERSION STAGE", "repository": "owner/name"} (repository optional): `+err.Error())
		return false
	}
	return true
}

// slackCommand answers Slack's slash command. Nothing is done for a
// request whose signature, timestamp or single use cannot be verified.
func (h *Handler) slackCommand(w http.ResponseWriter, r *http.Request) {
	chat := h.chatConfig()
	if chat.Slack == nil {
		writeError(w, http.StatusNotFound, "not_found", "Slack commands are not configured: add chat.slack to hookd's configuration")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCommandBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over %d bytes", maxCommandBody))
			return
		}
		writeError(w, http.StatusBadRequest, "unreadable", "the body could not be read")
		return
	}
	sig := r.Header.Get("X-Slack-Signature")
	ts, err := VerifySlack(chat.Slack.SigningSecret, r.Header.Get("X-Slack-Request-Timestamp"), sig, body, time.Now())
	if err != nil {
		h.log.Warn("Slack command refused", "reason", err.Error(), "remote", r.RemoteAddr)
		writeUnauthorizedSlack(w, err.Error())
		return
	}
	nonces, ok := h.store.(Nonces)
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the store cannot remember used signatures, so Slack commands are off")
		return
	}
	// The key outlives the window in which the timestamp is accepted, with
	// a minute to spare for clocks that disagree.
	fresh, err := nonces.ClaimNonce(r.Context(), "slack:"+sig, ts.Add(SlackWindow+time.Minute))
	if err != nil {
		h.log.Error("Slack command: could not record its signature; refused", "error", err)
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the database does not answer; try again")
		return
	}
	if !fresh {
		h.log.Warn("Slack command refused", "reason", "replayed", "remote", r.RemoteAddr)
		writeUnauthorizedSlack(w, "this request was received before; a signed request is used once")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_form", "the body is not application/x-www-form-urlencoded: "+err.Error())
		return
	}
	if form.Get("ssl_check") == "1" { // Slack checking the certificate
		w.WriteHeader(http.StatusOK)
		return
	}
	userID := form.Get("user_id")
	who, known := chat.Slack.Users[userID]
	if !known {
		h.log.Warn("Slack command from a user hookd does not know", "user_id", userID, "user_name", form.Get("user_name"), "team_id", form.Get("team_id"))
		writeSlack(w, chatops.Reply{Text: fmt.Sprintf("Sorry, hookd does not know your Slack account (%s), so it cannot run commands for you. "+
			"Ask whoever runs hookd to add your user id to chat.slack.users.", userID)})
		return
	}
	prefix := ""
	if c := form.Get("command"); c != "" {
		prefix = c + " "
	}
	runner := &chatops.Runner{Changes: h.changes, Repository: chat.Repository, Via: "slack", Prefix: prefix}
	text := slackUnescape.Replace(form.Get("text"))
	responseURL := form.Get("response_url")

	// The command runs on its own context: once Slack has its "working
	// on it", the result goes to response_url, whether or not Slack still
	// holds this request. Shutdown waits for it (Drain), and past its
	// deadline cancels it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), commandTimeout)
	stop := context.AfterFunc(h.backgroundCtx, cancel)
	done := make(chan chatops.Reply, 1)
	h.background.Go(func() {
		defer cancel()
		defer stop()
		done <- runner.Run(ctx, who, text)
	})
	ackAfter := chat.Slack.AckAfter
	if ackAfter <= 0 {
		ackAfter = DefaultSlackAckAfter
	}
	if !usableResponseURL(responseURL) {
		// Nowhere to send a late answer: wait for it.
		ackAfter = commandTimeout
	}
	timer := time.NewTimer(ackAfter)
	defer timer.Stop()
	select {
	case reply := <-done:
		writeSlack(w, reply)
		return
	case <-timer.C:
	case <-r.Context().Done():
	}
	writeSlack(w, chatops.Reply{Text: "⏳ Working on it; the answer follows here."})
	h.background.Go(func() {
		reply := <-done
		if err := postSlack(h.backgroundCtx, responseURL, reply); err != nil {
			h.log.Error("Slack command: could not post its answer to response_url", "user", who.Name, "text", text,
				"tags", reply.Tags, "error", err)
		}
	})
}

// VerifySlack checks a Slack request as Slack documents it: the signature
// is "v0=" and the hex HMAC-SHA256, keyed with the signing secret, of
// "v0:" + timestamp + ":" + body; the timestamp (Unix seconds) is within
// SlackWindow of now, either way. It returns the request's time.
func VerifySlack(secret, timestamp, signature string, body []byte, now time.Time) (time.Time, error) {
	if signature == "" || timestamp == "" {
		return time.Time{}, errors.New("X-Slack-Signature and X-Slack-Request-Timestamp are required")
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return time.Time{}, errors.New("X-Slack-Request-Timestamp is not a Unix time")
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > SlackWindow || d < -SlackWindow {
		return time.Time{}, fmt.Errorf("the request's timestamp is %s from now, more than %s", d.Round(time.Second).Abs(), SlackWindow)
	}
	want := SignSlack(secret, timestamp, body)
	if !hmac.Equal([]byte(signature), []byte(want)) {
		return time.Time{}, errors.New("X-Slack-Signature does not match the body and the signing secret")
	}
	return ts, nil
}

// SignSlack is the X-Slack-Signature of a request (for tests and tools).
func SignSlack(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

func writeUnauthorizedSlack(w http.ResponseWriter, message string) {
	writeError(w, http.StatusUnauthorized, "unauthorized", message)
}

// slackUnescape undoes the escaping Slack applies to the text of a
// command; slackEscape applies it to answers.
var (
	slackUnescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
	slackEscape   = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
)

// slackMessage is Slack's response format.
type slackMessage struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

// slackResponse is the message for a reply: writes the channel should see
// go to the channel, the rest only to whoever asked.
func slackResponse(reply chatops.Reply) slackMessage {
	m := slackMessage{ResponseType: "ephemeral", Text: slackEscape.Replace(reply.Text)}
	if reply.Created {
		m.ResponseType = "in_channel"
	}
	return m
}

func writeSlack(w http.ResponseWriter, reply chatops.Reply) {
	writeJSON(w, http.StatusOK, slackResponse(reply))
}

// usableResponseURL reports whether a late answer can be posted to u.
func usableResponseURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "https" || p.Scheme == "http") && p.Host != ""
}

// redactedURL is u without its path and query, for logs.
func redactedURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "response_url"
	}
	return p.Scheme + "://" + p.Host + "/…"
}

var slackClient = &http.Client{
	Timeout: responseURLTimeout,
	// response_url answers itself; a redirect is not followed anywhere.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// postSlack sends a late answer to a command's response_url.
func postSlack(ctx context.Context, responseURL string, reply chatops.Reply) error {
	body, err := json.Marshal(slackResponse(reply))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, responseURLTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := slackClient.Do(req)
	if err != nil {
		// Not the *url.Error itself: it holds the URL, which lets whoever
		// reads the log post to the channel.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post to %s: %w", redactedURL(responseURL), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("response_url answered %s", resp.Status)
	}
	return nil
}
