package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hookd-dev/hookd/registry"
)

// Repository is one repository's registry on the server: reads in the
// shapes `gto ... --json` prints, and GTO's writes. Owner and name are
// what the server's configuration calls it: the GitHub owner/name, or a
// local repository's as:.
type Repository struct {
	c    *Client
	path string // /api/v1/repos/{owner}/{repo}
}

// Repository returns the registry of owner/name.
func (c *Client) Repository(owner, name string) *Repository {
	return &Repository{c: c, path: "/api/v1/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name)}
}

// artifactPath is an artifact's path segment: a monorepo artifact's '/'
// and a shortcut's '#' are escaped inside it.
func (r *Repository) artifactPath(name string) string {
	return r.path + "/artifacts/" + url.PathEscape(name)
}

// showQuery is show's options as the API's parameters; defaults are left
// out.
func showQuery(o registry.ShowOptions) url.Values {
	q := url.Values{}
	d := registry.DefaultShowOptions()
	if o.RegisteredOnly {
		q.Set("registered_only", "true")
	}
	if o.Deprecated {
		q.Set("deprecated", "true")
	}
	if o.AssignmentsPerVersion != d.AssignmentsPerVersion {
		q.Set("assignments_per_version", strconv.Itoa(o.AssignmentsPerVersion))
	}
	if o.VersionsPerStage != d.VersionsPerStage {
		q.Set("versions_per_stage", strconv.Itoa(o.VersionsPerStage))
	}
	if o.Sort == registry.SortSemVer {
		q.Set("sort", "semver")
	}
	return q
}

// Show is `gto show --json`: every artifact's latest version and what
// each stage holds, in GTO's order. Start from registry.DefaultShowOptions.
func (r *Repository) Show(ctx context.Context, opts registry.ShowOptions, o ...CallOption) (registry.Overview, error) {
	var ov overview
	err := r.c.do(ctx, http.MethodGet, r.path+"/artifacts", showQuery(opts), nil, &ov, http.StatusOK, o)
	return registry.Overview(ov), err
}

// ShowArtifact is `gto show NAME --json`: the artifact's versions,
// greatest first. NAME may be a shortcut (NAME@latest, NAME@vX.Y.Z,
// NAME#stage); ref, when not "", keeps the versions at that git reference.
func (r *Repository) ShowArtifact(ctx context.Context, name, ref string, opts registry.ShowOptions, o ...CallOption) ([]registry.VersionState, error) {
	q := showQuery(opts)
	if ref != "" {
		q.Set("ref", ref)
	}
	var vs []registry.VersionState
	err := r.c.do(ctx, http.MethodGet, r.artifactPath(name), q, nil, &vs, http.StatusOK, o)
	return vs, err
}

// History is `gto history --json`: every event of every artifact, newest
// first unless ascending.
func (r *Repository) History(ctx context.Context, ascending bool, o ...CallOption) ([]registry.HistoryEntry, error) {
	return r.history(ctx, r.path+"/history", ascending, o)
}

// ArtifactHistory is `gto history NAME --json`.
func (r *Repository) ArtifactHistory(ctx context.Context, name string, ascending bool, o ...CallOption) ([]registry.HistoryEntry, error) {
	return r.history(ctx, r.artifactPath(name)+"/history", ascending, o)
}

func (r *Repository) history(ctx context.Context, path string, ascending bool, o []CallOption) ([]registry.HistoryEntry, error) {
	q := url.Values{}
	if ascending {
		q.Set("ascending", "true")
	}
	var h []registry.HistoryEntry
	err := r.c.do(ctx, http.MethodGet, path, q, nil, &h, http.StatusOK, o)
	return h, err
}

// Stages is `gto stages --json`: the stages .gto allows or, when it
// restricts none, those in use; allowed or used asks for one of the two.
func (r *Repository) Stages(ctx context.Context, allowed, used bool, o ...CallOption) ([]string, error) {
	q := url.Values{}
	if allowed {
		q.Set("allowed", "true")
	}
	if used {
		q.Set("used", "true")
	}
	var s []string
	err := r.c.do(ctx, http.MethodGet, r.path+"/stages", q, nil, &s, http.StatusOK, o)
	return s, err
}

// CheckRef is `gto check-ref TAG --json`: the events the tag created,
// none for a tag that is not GTO's.
func (r *Repository) CheckRef(ctx context.Context, tag string, o ...CallOption) ([]registry.EventState, error) {
	var es []registry.EventState
	err := r.c.do(ctx, http.MethodGet, r.path+"/check-ref", url.Values{"tag": {tag}}, nil, &es, http.StatusOK, o)
	return es, err
}

// Register registers a version, as `gto register`.
func (r *Repository) Register(ctx context.Context, req WriteRequest) (*WriteResult, error) {
	return r.write(ctx, "register", req)
}

// Assign assigns a stage, as `gto assign`: to Version, or to the version
// at Ref (registering one there first if none is).
func (r *Repository) Assign(ctx context.Context, req WriteRequest) (*WriteResult, error) {
	return r.write(ctx, "assign", req)
}

// Unassign takes a version out of a stage, as `gto unassign`.
func (r *Repository) Unassign(ctx context.Context, req WriteRequest) (*WriteResult, error) {
	return r.write(ctx, "unassign", req)
}

// Deregister deregisters a version, as `gto deregister`.
func (r *Repository) Deregister(ctx context.Context, req WriteRequest) (*WriteResult, error) {
	return r.write(ctx, "deregister", req)
}

// Deprecate deprecates an artifact, as `gto deprecate`.
func (r *Repository) Deprecate(ctx context.Context, req WriteRequest) (*WriteResult, error) {
	return r.write(ctx, "deprecate", req)
}

// write carries out one write. A refused one is an *Error; one that
// failed after creating some tags lists them in the *Error's Tags and
// Output. Any other error (the server could not be reached, or did not
// answer) leaves it unknown whether the write was carried out: check the
// history before trying again.
func (r *Repository) write(ctx context.Context, op string, req WriteRequest) (*WriteResult, error) {
	var res WriteResult
	if err := r.c.do(ctx, http.MethodPost, r.path+"/"+op, nil, req, &res, http.StatusCreated, nil); err != nil {
		return nil, err
	}
	return &res, nil
}

// overview reads `gto show --json`, keeping the order of artifacts and of
// each artifact's stages.
type overview registry.Overview

func (o *overview) UnmarshalJSON(b []byte) error {
	*o = overview{}
	return eachKey(b, func(name string, value []byte) error {
		var s struct {
			Version    *string         `json:"version"`
			Stage      json.RawMessage `json:"stage"`
			Registered bool            `json:"registered"`
			Active     bool            `json:"active"`
		}
		if err := json.Unmarshal(value, &s); err != nil {
			return err
		}
		sum := registry.ArtifactSummary{Version: s.Version, Stage: registry.OrderedMap[*string]{}, Registered: s.Registered, Active: s.Active}
		err := eachKey(s.Stage, func(stage string, value []byte) error {
			var v *string
			if err := json.Unmarshal(value, &v); err != nil {
				return err
			}
			sum.Stage = append(sum.Stage, registry.KeyValue[*string]{Key: stage, Value: v})
			return nil
		})
		*o = append(*o, registry.KeyValue[registry.ArtifactSummary]{Key: name, Value: sum})
		return err
	})
}

// eachKey calls fn with each key of the JSON object b and its value, in
// order.
func eachKey(b []byte, fn func(key string, value []byte) error) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("want a JSON object, not %.40s", b)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if err := fn(t.(string), v); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}
