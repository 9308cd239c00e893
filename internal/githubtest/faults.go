package githubtest

import (
	"cmp"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RESTFaultKind is a way a REST request can go wrong.
type RESTFaultKind int

const (
	// ServerError answers Status (default 502) with GitHub's error body.
	ServerError RESTFaultKind = iota + 1
	// Hang never answers: the request is held until the client gives up
	// (its context or timeout ends) or the server closes.
	Hang
	// PrimaryRateLimit answers 403 with X-RateLimit-Remaining: 0 and an
	// X-RateLimit-Reset RetryAfter from now (default one minute).
	PrimaryRateLimit
	// SecondaryRateLimit answers Status (403 by default, or 429) with
	// Retry-After: RetryAfter (default one minute) and GitHub's
	// secondary-rate-limit message.
	SecondaryRateLimit
	// EchoAuthorization answers Status (default 401) with an error body
	// whose message repeats the request's Authorization header, as some
	// proxies and API-compatible servers do (GitHub itself does not).
	EchoAuthorization
)

func (k RESTFaultKind) String() string {
	switch k {
	case ServerError:
		return "server-error"
	case Hang:
		return "hang"
	case PrimaryRateLimit:
		return "primary-rate-limit"
	case SecondaryRateLimit:
		return "secondary-rate-limit"
	case EchoAuthorization:
		return "echo-authorization"
	}
	return "fault-" + strconv.Itoa(int(k))
}

// RESTFault makes the next Count REST or GraphQL requests that match go
// wrong (GraphQL requests have the path "/graphql"; there a
// PrimaryRateLimit is GitHub's 200 with a RATE_LIMITED error). Faulted
// requests do not count against the rate limit.
type RESTFault struct {
	Kind RESTFaultKind
	// Method and Path restrict the fault: Method exactly, Path as a
	// substring of the escaped request path (such as "/git/matching-refs/").
	// Empty matches everything.
	Method, Path string
	Count        int // default 1
	Status       int
	RetryAfter   time.Duration
}

// armed is a list of injected faults, each good for a number of uses and
// used in the order armed. The Server's mutex guards it.
type armed[F any] struct{ faults []*armedFault[F] }

type armedFault[F any] struct {
	fault F
	left  int
}

func (a *armed[F]) add(f F, count int) {
	a.faults = append(a.faults, &armedFault[F]{fault: f, left: max(count, 1)})
}

// take consumes one use of the first fault that matches.
func (a *armed[F]) take(matches func(F) bool) (F, bool) {
	for i, af := range a.faults {
		if !matches(af.fault) {
			continue
		}
		if af.left--; af.left == 0 {
			a.faults = append(a.faults[:i:i], a.faults[i+1:]...)
		}
		return af.fault, true
	}
	var zero F
	return zero, false
}

// InjectRESTFault arms a fault for requests from now on. Faults are used in
// the order they were armed.
func (s *Server) InjectRESTFault(f RESTFault) {
	if f.RetryAfter <= 0 {
		f.RetryAfter = time.Minute
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restFaults.add(f, f.Count)
}

// takeRESTFault consumes one use of the first fault matching the request.
func (s *Server) takeRESTFault(method, path string) (RESTFault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restFaults.take(func(f RESTFault) bool {
		return (f.Method == "" || f.Method == method) && strings.Contains(path, f.Path)
	})
}

// serveFault answers a faulted request with the rate-limit headers of
// resource ("core" or "graphql"). It calls record with the status first
// (0 for a hang) and, for a rate limit, when it lifts, so that the request
// is in Requests before its client has the answer.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f RESTFault, resource string, record func(status int, lifts time.Time)) {
	switch f.Kind {
	case Hang:
		record(0, time.Time{})
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
	case PrimaryRateLimit:
		reset := time.Now().Add(f.RetryAfter)
		lifts := time.Unix(reset.Unix(), 0) // X-RateLimit-Reset is in seconds
		if resource == "graphql" {
			// GraphQL's limit comes in a 200, as a RATE_LIMITED error.
			record(http.StatusOK, lifts)
			writeRateHeaders(w, resource, s.opts.GraphQLRateLimit, s.opts.GraphQLRateLimit, reset)
			writeJSON(w, http.StatusOK, gqlRateLimited)
			return
		}
		record(http.StatusForbidden, lifts)
		s.writePrimaryRateLimit(w, reset)
	case SecondaryRateLimit:
		status := cmp.Or(f.Status, http.StatusForbidden)
		retryAfter := f.RetryAfter.Round(time.Second)
		record(status, time.Now().Add(retryAfter))
		s.setRateHeaders(w, resource)
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
		writeJSON(w, status, errorBody{
			Message:          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
	case EchoAuthorization:
		status := cmp.Or(f.Status, http.StatusUnauthorized)
		record(status, time.Time{})
		s.setRateHeaders(w, resource)
		writeJSON(w, status, apiError("Bad credentials; the request had Authorization: "+r.Header.Get("Authorization")))
	default:
		status := cmp.Or(f.Status, http.StatusBadGateway)
		record(status, time.Time{})
		s.setRateHeaders(w, resource)
		writeJSON(w, status, apiError("Server Error"))
	}
}
