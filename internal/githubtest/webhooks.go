package githubtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Signature256 is the X-Hub-Signature-256 header GitHub sends for body
// signed with secret: "sha256=" and the lowercase hex HMAC-SHA256.
func Signature256(secret string, body []byte) string {
	return "sha256=" + hexHMAC(sha256.New, secret, body)
}

// signature1 is the legacy X-Hub-Signature header (HMAC-SHA1).
func signature1(secret string, body []byte) string {
	return "sha1=" + hexHMAC(sha1.New, secret, body)
}

func hexHMAC(h func() hash.Hash, secret string, body []byte) string {
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// maxPayloadBytes is GitHub's cap: larger payloads are not delivered.
const maxPayloadBytes = 25 << 20

// hookshotUA is the User-Agent of GitHub's webhook sender.
const hookshotUA = "GitHub-Hookshot/5d3a1f7"

// Delivery is one attempt to deliver a webhook, as GitHub's delivery log
// shows it.
type Delivery struct {
	ID         int64  // distinct per attempt; redeliveries get a new one
	GUID       string // X-GitHub-Delivery; a redelivery keeps it
	HookID     int64
	Event      string // X-GitHub-Event
	Payload    []byte // the signed body
	Redelivery bool
	// StatusCode is the receiver's answer, 0 when there was none (dropped,
	// refused, timed out).
	StatusCode int
	Err        string // why there was no answer
	Dropped    bool   // an injected DropDelivery fault swallowed it
	// DeliveredAt is when the attempt finished (or was dropped).
	DeliveredAt time.Time
	Duration    time.Duration
}

// hook is a repository webhook, as AddHook or the hooks API made it.
type hook struct {
	id          int64
	url         string
	secret      string
	contentType string   // "json" or "form"
	insecureSSL string   // "0" or "1"
	events      []string // "*" is every event
	active      bool
	created     time.Time
	updated     time.Time
	last        lastResponse
}

// lastResponse is what GitHub shows as a hook's last_response: "unused"
// until the first delivery.
type lastResponse struct {
	code            int
	status, message string
}

// wants reports whether the hook is sent event. A ping goes to every
// hook it is made for, so it is not asked.
func (h hook) wants(event string) bool {
	return h.active && (slices.Contains(h.events, "*") || slices.Contains(h.events, event))
}

// outgoing is a delivery waiting to be sent.
type outgoing struct {
	d    Delivery
	hook hook
}

// webhookState is the delivery machinery; Server.mu guards it. Deliveries
// go out one at a time in the order they were queued (so tests see a stable
// order unless they inject a fault), each in its own attempt with no retry.
type webhookState struct {
	hooks   []hook
	queue   []*outgoing
	held    []*outgoing // ReorderDelivery: sent after the next delivery
	pending int         // queued + held + delayed + in flight + pushes being processed
	changed chan struct{}
	wake    chan struct{}
	faults  armed[DeliveryFault]
	log     []Delivery
	done    chan struct{}
	delayed sync.WaitGroup
}

func (w *webhookState) init() {
	w.changed = make(chan struct{})
	w.wake = make(chan struct{}, 1)
	w.done = make(chan struct{})
}

// wait blocks until the sender and any delayed deliveries have stopped.
func (w *webhookState) wait() {
	<-w.done
	w.delayed.Wait()
}

// notifyLocked wakes WaitIdle callers; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.webhooks.changed)
	s.webhooks.changed = make(chan struct{})
}

// begin and end bracket work that may queue deliveries (a push being
// processed), so WaitIdle does not return before they are queued.
func (w *webhookState) begin(s *Server) {
	s.mu.Lock()
	w.pending++
	s.mu.Unlock()
}

func (w *webhookState) end(s *Server) {
	s.mu.Lock()
	w.pending--
	s.notifyLocked()
	s.mu.Unlock()
}

// AddHook registers a webhook receiver subscribed to every event and, as
// GitHub does, sends it a ping. secret may be empty (then no signatures).
// The hooks API (POST .../hooks) makes hooks the way a client would.
func (s *Server) AddHook(url, secret string) (hookID int64) {
	now := time.Now().UTC().Truncate(time.Second)
	h := hook{id: s.newID(), url: url, secret: secret, contentType: "json", insecureSSL: "0",
		events: []string{"*"}, active: true, created: now, updated: now}
	s.mu.Lock()
	s.webhooks.hooks = append(s.webhooks.hooks, h)
	s.mu.Unlock()
	s.ping(h)
	return h.id
}

// ping sends the hook GitHub's ping, with the hook as the API shows it.
func (s *Server) ping(h hook) {
	ping := map[string]any{
		"zen":        "Design for failure.",
		"hook_id":    h.id,
		"hook":       s.hookJSON(h),
		"repository": s.repositoryJSON(false),
		"sender":     s.sender(),
	}
	s.enqueue(s.newOutgoing(h, "ping", encode(ping)), true)
}

func (s *Server) newOutgoing(h hook, event string, body []byte) *outgoing {
	return &outgoing{hook: h, d: Delivery{ID: s.newID(), GUID: newGUID(), HookID: h.id, Event: event, Payload: body}}
}

// broadcast sends event to every hook, each with its own delivery GUID.
func (s *Server) broadcast(event string, payload any) {
	body := encode(payload)
	s.mu.Lock()
	hooks := append([]hook(nil), s.webhooks.hooks...)
	s.mu.Unlock()
	for _, h := range hooks {
		if h.wants(event) {
			s.enqueue(s.newOutgoing(h, event, body), true)
		}
	}
}

// newGUID returns a random version-4 UUID, the form of X-GitHub-Delivery.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// DeliveryFaultKind is a way a webhook delivery can go wrong.
type DeliveryFaultKind int

const (
	// DropDelivery loses the delivery: it is logged but never sent.
	DropDelivery DeliveryFaultKind = iota + 1
	// DuplicateDelivery sends the delivery twice with the same GUID.
	DuplicateDelivery
	// DelayDelivery sends the delivery after Delay, letting later
	// deliveries overtake it.
	DelayDelivery
	// ReorderDelivery holds the delivery back until the next one is sent.
	ReorderDelivery
)

// DeliveryFault makes the next Count deliveries of Event go wrong.
type DeliveryFault struct {
	Kind  DeliveryFaultKind
	Event string // "" matches every event
	Count int    // default 1
	Delay time.Duration
}

// InjectDeliveryFault arms a fault for deliveries queued from now on.
func (s *Server) InjectDeliveryFault(f DeliveryFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhooks.faults.add(f, f.Count)
}

// enqueue queues a delivery for the sender, first applying any injected
// fault when withFaults (redeliveries are the way out of a fault, so they
// bypass them).
func (s *Server) enqueue(o *outgoing, withFaults bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &s.webhooks
	var f DeliveryFault
	if withFaults {
		f, _ = w.faults.take(func(f DeliveryFault) bool { return f.Event == "" || f.Event == o.d.Event })
	}
	switch f.Kind {
	case DropDelivery:
		o.d.Dropped, o.d.Err, o.d.DeliveredAt = true, "dropped by injected fault", time.Now()
		w.log = append(w.log, o.d)
		s.notifyLocked()
		return
	case DuplicateDelivery:
		twin := *o
		s.nextID++
		twin.d.ID = s.nextID
		w.queue = append(w.queue, o, &twin)
		w.pending += 2
	case DelayDelivery:
		w.pending++
		w.delayed.Add(1)
		go func() {
			defer w.delayed.Done()
			select {
			case <-time.After(f.Delay):
				s.send(o)
			case <-s.closing:
			}
			s.finished()
		}()
		return
	case ReorderDelivery:
		w.held = append(w.held, o)
		w.pending++
		return
	default:
		w.queue = append(w.queue, o)
		w.pending++
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// finished accounts for one delivery that left the pending set.
func (s *Server) finished() {
	s.mu.Lock()
	s.webhooks.pending--
	s.notifyLocked()
	s.mu.Unlock()
}

// run is the sender: it sends queued deliveries one at a time until the
// server closes.
func (w *webhookState) run(s *Server) {
	defer close(w.done)
	for {
		s.mu.Lock()
		if len(w.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-w.wake:
				continue
			case <-s.closing:
				return
			}
		}
		o := w.queue[0]
		w.queue = w.queue[1:]
		s.mu.Unlock()

		s.send(o)

		s.mu.Lock()
		// Deliveries held back by ReorderDelivery go right after this one.
		w.queue = append(w.held, w.queue...)
		w.held = nil
		s.mu.Unlock()
		s.finished()
	}
}

// send makes one delivery attempt and logs it. GitHub does not follow
// redirects and does not retry.
func (s *Server) send(o *outgoing) {
	d := o.d
	start := time.Now()
	defer func() {
		d.DeliveredAt, d.Duration = time.Now(), time.Since(start)
		s.mu.Lock()
		s.webhooks.log = append(s.webhooks.log, d)
		s.recordResponseLocked(d)
		s.mu.Unlock()
	}()
	if len(d.Payload) > maxPayloadBytes {
		d.Err = "payload exceeds 25 MB"
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.DeliveryTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	// A hook made with content type "form" gets the JSON in a form's
	// payload field, and the signature covers the form body.
	body, contentType := d.Payload, "application/json"
	if o.hook.contentType == "form" {
		body, contentType = []byte("payload="+url.QueryEscape(string(d.Payload))), "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.hook.url, bytes.NewReader(body))
	if err != nil {
		d.Err = err.Error()
		return
	}
	h := req.Header
	h.Set("Content-Type", contentType)
	h.Set("Accept", "*/*")
	h.Set("User-Agent", hookshotUA)
	h.Set("X-GitHub-Event", d.Event)
	h.Set("X-GitHub-Delivery", d.GUID)
	h.Set("X-GitHub-Hook-ID", strconv.FormatInt(d.HookID, 10))
	h.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(repoID, 10))
	h.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	if o.hook.secret != "" {
		h.Set("X-Hub-Signature", signature1(o.hook.secret, body))
		h.Set("X-Hub-Signature-256", Signature256(o.hook.secret, body))
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		d.Err = err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			d.Err = "timed out"
		}
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	d.StatusCode = resp.StatusCode
}

// Deliveries returns every delivery attempt made (or dropped) so far, in the
// order they finished.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.webhooks.log...)
}

// WaitIdle blocks until no delivery is queued, held, delayed or in flight
// and no push is being processed, or ctx ends. After a `git push` or REST
// call has returned, WaitIdle then Deliveries shows everything it caused.
func (s *Server) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		idle, changed := s.webhooks.pending == 0, s.webhooks.changed
		s.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("githubtest: webhooks still pending: %w", ctx.Err())
		}
	}
}

// errNoDelivery is returned for an unknown hook or delivery id.
var errNoDelivery = errors.New("githubtest: no such hook delivery")

// redelivery prepares a new attempt of a logged delivery: same GUID, event
// and payload, a new id.
func (s *Server) redelivery(hookID, deliveryID int64) (*outgoing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.webhooks.log {
		if d.ID != deliveryID || d.HookID != hookID {
			continue
		}
		for _, h := range s.webhooks.hooks {
			if h.id == hookID {
				s.nextID++
				o := &outgoing{hook: h, d: Delivery{ID: s.nextID, GUID: d.GUID, HookID: h.id, Event: d.Event, Payload: d.Payload, Redelivery: true}}
				return o, nil
			}
		}
	}
	return nil, errNoDelivery
}

// Redeliver re-sends a logged delivery with the same GUID, as GitHub's
// "Redeliver" button does, and returns the new attempt once it finished.
// Injected faults do not apply to redeliveries.
func (s *Server) Redeliver(hookID, deliveryID int64) (Delivery, error) {
	o, err := s.redelivery(hookID, deliveryID)
	if err != nil {
		return Delivery{}, err
	}
	s.send(o)
	for _, d := range s.Deliveries() {
		if d.ID == o.d.ID {
			return d, nil
		}
	}
	return Delivery{}, errNoDelivery
}

// redeliverAsync queues a redelivery the way the REST endpoint does (GitHub
// answers 202 and delivers later), bypassing injected faults.
func (s *Server) redeliverAsync(hookID, deliveryID int64) error {
	o, err := s.redelivery(hookID, deliveryID)
	if err != nil {
		return err
	}
	s.enqueue(o, false)
	return nil
}

// deliveryJSON is a delivery as GET .../hooks/{id}/deliveries lists it.
func deliveryJSON(d Delivery) map[string]any {
	return map[string]any{
		"id":              d.ID,
		"guid":            d.GUID,
		"delivered_at":    isoTime(d.DeliveredAt.UTC()),
		"redelivery":      d.Redelivery,
		"duration":        d.Duration.Seconds(),
		"status":          d.statusText(),
		"status_code":     d.StatusCode,
		"event":           d.Event,
		"action":          nil,
		"installation_id": nil,
		"repository_id":   repoID,
	}
}

// statusText is how GitHub's delivery log words the outcome.
func (d Delivery) statusText() string {
	switch {
	case d.StatusCode == 0:
		return d.Err
	case d.StatusCode >= 300:
		return fmt.Sprintf("Invalid HTTP Response: %d", d.StatusCode)
	}
	return "OK"
}

// recordResponseLocked keeps d's outcome as its hook's last_response;
// s.mu must be held.
func (s *Server) recordResponseLocked(d Delivery) {
	for i := range s.webhooks.hooks {
		if h := &s.webhooks.hooks[i]; h.id == d.HookID {
			h.last = lastResponse{code: d.StatusCode, status: "active", message: d.statusText()}
		}
	}
}
