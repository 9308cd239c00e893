package github

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
)

type conditionalKey struct{}

// conditionally marks a read whose answer is worth keeping: the next
// identical read asks GitHub with If-None-Match and, when nothing changed,
// gets a 304, which does not count against the rate limit. Reads of
// immutable objects (tag objects, commits by sha) are cached as values
// instead, so they are not marked.
func conditionally(ctx context.Context) context.Context {
	return context.WithValue(ctx, conditionalKey{}, true)
}

// revalidator is the transport that makes conditional reads: it keeps
// the last answer to each marked GET with its ETag and answers a 304 with
// it, so go-github sees a 200 with the body it would have got.
type revalidator struct {
	base http.RoundTripper

	answers bounded[string, *keptAnswer]
}

type keptAnswer struct {
	etag   string
	header http.Header
	body   []byte
}

func (v *revalidator) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.Context().Value(conditionalKey{}) == nil {
		return v.base.RoundTrip(req)
	}
	key := req.URL.String() + "\x00" + req.Header.Get("Accept")
	kept, _ := v.answers.get(key)
	if kept != nil {
		req = req.Clone(req.Context())
		req.Header.Set("If-None-Match", kept.etag)
	}
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && kept != nil:
		_ = resp.Body.Close()
		h := kept.header.Clone()
		// The rate limit is the 304's, not the kept answer's.
		for k, vals := range resp.Header {
			if strings.HasPrefix(k, "X-Ratelimit-") {
				h[k] = vals
			}
		}
		resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
		resp.Header, resp.Body = h, io.NopCloser(bytes.NewReader(kept.body))
		resp.ContentLength = int64(len(kept.body))
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		v.answers.put(key, &keptAnswer{etag: resp.Header.Get("ETag"), header: resp.Header.Clone(), body: body})
	}
	return resp, nil
}

// bounded is a concurrency-safe map that forgets its oldest entries beyond
// maxKept.
type bounded[K comparable, V any] struct {
	mu    sync.Mutex
	m     map[K]V
	order []K // oldest first
}

// maxKept bounds the answers kept for revalidation and the files kept by
// commit. The reads repeated (the tag listing, `.gto`, the index, the
// default branch) are few; the bound only stops a long-running process
// from keeping everything it was ever asked.
const maxKept = 256

func (b *bounded[K, V]) get(k K) (V, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[k]
	return v, ok
}

func (b *bounded[K, V]) put(k K, v V) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[K]V{}
	}
	if _, ok := b.m[k]; !ok {
		b.order = append(b.order, k)
	}
	b.m[k] = v
	if len(b.order) > maxKept {
		delete(b.m, b.order[0])
		b.order = b.order[1:]
	}
}
