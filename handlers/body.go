package handlers

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Limits on receiving webhook bodies. A body is held in memory until its
// signature is verified, so what the bodies being received may hold at once
// is bounded (Options.BodyBytes), and so is what a client that sends slowly,
// or announces a large body and sends nothing, can take of it.
const (
	// bodyWait is how long a body waits for room among the bodies being
	// read before its delivery is answered 503.
	bodyWait = 2 * time.Second
	// firstReservation is the room reserved for a body before its first
	// bytes arrive; later reservations double it as bytes fill it.
	firstReservation = 64 << 10
	// defaultBodyTimeout is GitHub's wait for an answer: a delivery whose
	// body takes longer has failed on GitHub's side anyway.
	defaultBodyTimeout = 10 * time.Second
	// defaultSlowUpload is when a body still arriving counts as a slow
	// upload; a GitHub payload of a few kilobytes takes milliseconds.
	defaultSlowUpload = 2 * time.Second
	// defaultSlowUploadsPerClient bounds the slow uploads one client
	// address may have under way; further ones are cut off.
	defaultSlowUploadsPerClient = 4
)

// slowUploads counts, per client address, the bodies still arriving after
// the slow-upload threshold.
type slowUploads struct {
	mu      sync.Mutex
	perHost map[string]int
}

// add counts one more slow upload from host; false (and nothing counted)
// when host already has max of them.
func (s *slowUploads) add(host string, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perHost[host] >= max {
		return false
	}
	if s.perHost == nil {
		s.perHost = map[string]int{}
	}
	s.perHost[host]++
	return true
}

func (s *slowUploads) remove(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perHost[host]--; s.perHost[host] <= 0 {
		delete(s.perHost, host)
	}
}

// slowWatch marks one body read slow once it has taken too long, and cuts
// it off if its client already has as many slow uploads as it may.
type slowWatch struct {
	h     *Handler
	host  string
	timer *time.Timer

	mu       sync.Mutex
	finished bool
	counted  bool
	cutOff   bool
}

func (h *Handler) watchUpload(rc *http.ResponseController, host string) *slowWatch {
	s := &slowWatch{h: h, host: host}
	s.timer = time.AfterFunc(h.slowUpload, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.finished {
			return
		}
		if s.counted = h.uploads.add(host, h.slowPerClient); !s.counted {
			s.cutOff = true
			// The body's Read returns at once with a timeout.
			_ = rc.SetReadDeadline(time.Now())
		}
	})
	return s
}

// finish stops watching; it reports whether the upload was cut off.
func (s *slowWatch) finish() (cutOff bool) {
	s.timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = true
	if s.counted {
		s.h.uploads.remove(s.host)
		s.counted = false
	}
	return s.cutOff
}

// readBody reads a webhook's body, reserving room in the bodies' budget as
// its bytes arrive rather than by what Content-Length announces: a client
// that announces 25 MiB and sends nothing holds almost nothing. The room
// is held until release is called, once the delivery is stored or refused.
// The body must arrive within the body timeout (GitHub's own wait).
// release(reuse) with reuse set also hands the body's buffer to the next
// delivery: only when nothing holds the body any more.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(reuse bool), out *outcome) {
	var (
		reserved int64
		pooled   *[]byte
	)
	if r.ContentLength >= 0 && r.ContentLength < pooledBody {
		pooled = bodyPool.Get().(*[]byte)
	}
	release = func(reuse bool) {
		h.bodies.Release(reserved)
		if pooled != nil && reuse {
			bodyPool.Put(pooled)
		}
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, release, tooLarge()
	}
	rc := http.NewResponseController(w)
	// Where the server cannot set deadlines (a handler test's recorder,
	// say), the server's own timeouts still apply.
	_ = rc.SetReadDeadline(time.Now().Add(h.bodyTimeout))
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	watch := h.watchUpload(rc, host)
	body, reserved, err = h.readReserving(r.Context(), http.MaxBytesReader(w, r.Body, MaxBodyBytes), r.ContentLength, pooled)
	cutOff := watch.finish()
	switch {
	case err == nil:
		// The body is in: storing it is not bound by the body's deadline
		// (past it, the server would take the idle connection for a
		// dead one). A body left unread keeps the deadline, which bounds
		// the server's attempt to drain it.
		_ = rc.SetReadDeadline(time.Time{})
		return body, release, nil
	case errors.Is(err, errBusy):
		return nil, release, fail(http.StatusServiceUnavailable, "busy", "too many deliveries are being received at once; redeliver it later")
	case cutOff:
		return nil, release, fail(http.StatusTooManyRequests, "too_many_slow_uploads",
			"this address has %d other deliveries arriving slowly; redeliver it later", h.slowPerClient)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, release, fail(http.StatusRequestTimeout, "body_timeout",
			"the body did not arrive within %v (GitHub stops waiting for an answer after 10s)", h.bodyTimeout)
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, release, tooLarge()
	}
	return nil, release, &outcome{status: http.StatusBadRequest, name: "bad_body", message: "could not read the body", err: err}
}

func tooLarge() *outcome {
	return fail(http.StatusRequestEntityTooLarge, "too_large", "body over %d bytes", MaxBodyBytes)
}

var errBusy = errors.New("no room for the body")

// bodyPool keeps buffers for bodies under pooledBody bytes, nearly every
// delivery: a fresh buffer per body was half of the bytes a branch push
// allocated, and so about half of the collector's work.
var bodyPool = sync.Pool{New: func() any {
	b := make([]byte, pooledBody)
	return &b
}}

const pooledBody = 64 << 10

// readReserving reads src to its end. Before its buffer grows it reserves
// the growth in h.bodies, waiting at most bodyWait: what a body holds is
// at most twice what has arrived, plus the first reservation. length is
// the announced length (-1: unknown), which only caps the reservations.
// pooled, when not nil, is a buffer to read into while the body fits.
func (h *Handler) readReserving(ctx context.Context, src io.Reader, length int64, pooled *[]byte) (buf []byte, reserved int64, err error) {
	limit := int64(MaxBodyBytes) + 1 // one past: MaxBytesReader reads it to detect excess
	if length >= 0 {
		limit = length + 1 // and the read that finds the end
	}
	for {
		if len(buf) == cap(buf) {
			grow := min(max(int64(cap(buf)), firstReservation), limit-int64(cap(buf)))
			if grow <= 0 { // more than announced, or than the limit
				return nil, reserved, &http.MaxBytesError{Limit: MaxBodyBytes}
			}
			wait, cancel := context.WithTimeout(ctx, bodyWait)
			err := h.bodies.Acquire(wait, grow)
			cancel()
			if err != nil {
				return nil, reserved, errBusy
			}
			reserved += grow
			if size := int64(cap(buf)) + grow; buf == nil && pooled != nil && size <= int64(len(*pooled)) {
				buf = (*pooled)[:0:size] // capped, so growth still reserves first
			} else {
				next := make([]byte, len(buf), size)
				copy(next, buf)
				buf = next
			}
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case errors.Is(err, io.EOF):
			return buf, reserved, nil
		case err != nil:
			return nil, reserved, err
		}
	}
}
