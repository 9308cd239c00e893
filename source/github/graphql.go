package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// Git objects (tag objects, commits) are read through GraphQL: one query
// reads up to batchSize of them where REST needs a request each, and its
// GitTimestamp dates keep the offset git recorded, which REST turns into
// UTC and GTO prints.

// batchSize is how many objects one query names. A query of 100 costs one
// point of GraphQL's own hourly budget (5,000 points for a token).
const batchSize = 100

// graphqlEndpoint is the GraphQL URL of the REST base URL rest:
// https://api.github.com/graphql for https://api.github.com/, and
// https://HOST/api/graphql for GitHub Enterprise's https://HOST/api/v3/.
func graphqlEndpoint(rest *url.URL) string {
	u := *rest
	if p, ok := strings.CutSuffix(u.Path, "/api/v3/"); ok {
		u.Path = p + "/api/graphql"
	} else {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/graphql"
	}
	return u.String()
}

// gqlError is an entry of a GraphQL answer's errors.
type gqlError struct {
	Type    string `json:"type"`
	Path    []any  `json:"path"`
	Message string `json:"message"`
}

// graphql runs a query and decodes its data into data. GitHub answers most
// failures with a 200 and an errors array: RATE_LIMITED is waited out
// like a REST rate limit, and a NOT_FOUND below the repository is an
// object GitHub does not have, left null in the data. Any other error fails
// the query with GitHub's message. 5xx answers are retried as for REST.
func (r *Repo) graphql(ctx context.Context, query string, data any) error {
	body, err := json.Marshal(map[string]any{
		"query":     query,
		"variables": map[string]any{"owner": r.owner, "name": r.name},
	})
	if err != nil {
		return err
	}
	_, err = r.call(ctx, true, func() (*github.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.graphqlURL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		hr, err := r.hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer hr.Body.Close()
		resp := &github.Response{Response: hr, Rate: parseRate(hr.Header)}
		if err := github.CheckResponse(hr); err != nil {
			return resp, err
		}
		var answer struct {
			Data   json.RawMessage `json:"data"`
			Errors []gqlError      `json:"errors"`
		}
		if err := json.NewDecoder(hr.Body).Decode(&answer); err != nil {
			return resp, fmt.Errorf("graphql answer: %w", err)
		}
		var msgs []string
		for _, e := range answer.Errors {
			switch {
			case e.Type == "RATE_LIMITED":
				return resp, &github.RateLimitError{Rate: resp.Rate, Response: hr, Message: e.Message}
			case e.Type == "NOT_FOUND" && len(e.Path) > 1:
			default:
				msgs = append(msgs, e.Message)
			}
		}
		if len(msgs) > 0 {
			return resp, &Error{Message: "graphql: " + strings.Join(msgs, "; ")}
		}
		return resp, json.Unmarshal(answer.Data, data)
	})
	return err
}

// parseRate reads the rate-limit headers GitHub sends with every answer.
func parseRate(h http.Header) github.Rate {
	limit, _ := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, _ := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	var rate github.Rate
	rate.Limit, rate.Remaining = limit, remaining
	if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		rate.Reset = github.Timestamp{Time: time.Unix(reset, 0)}
	}
	return rate
}

// objects reads the git objects shas through GraphQL, batchSize to a
// query, selecting fields (inline fragments) on each, and hands each one
// GitHub has to decode. The queries run one after another: GitHub asks
// for no concurrent requests, and each already carries a hundred objects.
func (r *Repo) objects(ctx context.Context, shas []string, fields string, decode func(sha string, raw json.RawMessage) error) error {
	for start := 0; start < len(shas); start += batchSize {
		batch := shas[start:min(start+batchSize, len(shas))]
		var q strings.Builder
		q.WriteString("query($owner:String!,$name:String!){repository(owner:$owner,name:$name){")
		for i, sha := range batch {
			fmt.Fprintf(&q, "o%d:object(oid:%q){%s}", i, sha, fields)
		}
		q.WriteString("}}")
		var data struct {
			Repository map[string]json.RawMessage `json:"repository"`
		}
		if err := r.graphql(ctx, q.String(), &data); err != nil {
			return err
		}
		for i, sha := range batch {
			raw := data.Repository["o"+strconv.Itoa(i)]
			if len(raw) == 0 || string(raw) == "null" {
				continue
			}
			if err := decode(sha, raw); err != nil {
				return fmt.Errorf("object %s: %w", sha, err)
			}
		}
	}
	return nil
}

// gqlActor is a GitActor; its date, a GitTimestamp, keeps git's offset.
type gqlActor struct {
	Name  string    `json:"name"`
	Email string    `json:"email"`
	Date  time.Time `json:"date"`
}

// tagFields and commitFields select what Tags and Commit need.
const (
	tagFields    = "...on Tag{oid name message tagger{name email date} target{oid __typename}}"
	commitFields = "...on Commit{oid message author{name email date} committer{name email date}}"
)
