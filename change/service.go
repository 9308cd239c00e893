// Package change owns the write side of the registry: what the companion
// API, the remote CLI and chat commands ask hookd to do to a repository's
// tags. Every write takes the same path through [Service.Do]:
//
//  1. the principal's scopes must allow the operation on the repository
//     (and the stage, and forcing) — package access decides;
//  2. the request is checked and planned against the repository's live
//     tags with GTO's rules (package registry), and against the
//     repository's promotion order;
//  3. the tags are created through package source (the GitHub API, or a
//     local repository), re-planned with the next counter when another
//     writer takes a name first; a repository hookd has never listed is
//     listed first, so that the new tags are news, not history;
//  4. the outcome is audited, whatever it is;
//  5. the repository is re-listed through the normal event pipeline, so
//     the events the new tags cause are recorded (and deployed) at once
//     rather than when the webhook arrives, and returned.
//
// Each tag's message is GTO's, followed by a Requested-by: trailer naming
// the principal, so `git show` tells who asked.
package change

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/store"
	"github.com/hookd-dev/hookd/tagparse"
)

// Repository is a configured repository as writes need it.
type Repository struct {
	Source source.Source
	// Promotion is the order stages are entered in; empty: none.
	Promotion []string
}

// ErrUnknownRepository is returned for a repository hookd is not
// configured for. An API answers it with 404.
var ErrUnknownRepository = errors.New("repository is not configured in hookd")

// Store is what the service records in; *store.Store has it.
type Store interface {
	RecordAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error)
	Events(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	// Listing tells whether hookd has listed a repository yet (a zero
	// ListedAt: never).
	Listing(ctx context.Context, repository string) (store.Listing, error)
}

// Service carries out writes.
type Service struct {
	// Repository finds a repository by the name the API calls it
	// (owner/name); ErrUnknownRepository when there is none.
	Repository func(name string) (Repository, error)
	Store      Store
	// Settle records the events of tags the repository has and hookd has
	// not seen (ingest's Reconcile), given the repository's name.
	Settle func(ctx context.Context, repository string) error
	// SettleTimeout bounds waiting for the events after the tags are
	// created (default 10s); past it the result has the tags and no
	// events, which the webhook or the reconciler records later.
	SettleTimeout time.Duration
	Logger        *slog.Logger
}

// Actor is who asks, and through what ("api", "slack", "command").
type Actor struct {
	Principal access.Principal
	Via       string
}

// Result is what a write did.
type Result struct {
	// Tags are the created tags' names, in order.
	Tags []string
	// Output is what gto prints for them, a line each.
	Output []string
	// Events are the events the tags caused, as recorded; empty when
	// they could not be recorded in time.
	Events []store.Event
}

// Do carries out one write for actor on the repository the API calls
// repo. Its error classifies with [Status].
func (s *Service) Do(ctx context.Context, actor Actor, repo string, op access.Operation, req Request) (Result, error) {
	res, err := s.do(ctx, actor, repo, op, req)
	s.audit(ctx, actor, repo, op, req, res, err)
	return res, err
}

func (s *Service) do(ctx context.Context, actor Actor, repo string, op access.Operation, req Request) (Result, error) {
	if !op.Write() {
		return Result{}, inputf("%s is not a write", op)
	}
	err := actor.Principal.Check(access.Request{Repository: repo, Operation: op, Stage: req.Stage, Force: req.Force})
	if err != nil {
		return Result{}, err
	}
	if err := req.Check(op); err != nil {
		return Result{}, err
	}
	r, err := s.Repository(repo)
	if err != nil {
		return Result{}, err
	}
	plan, err := planner(ctx, r, op, req)
	if err != nil {
		return Result{}, err
	}
	if op == access.Assign {
		plan = registrationAllowed(plan, actor.Principal, repo)
	}
	if err := s.baseline(ctx, repo); err != nil {
		return Result{}, err
	}
	trailer := "Requested-by: " + actor.Principal.Name
	if actor.Via != "" {
		trailer += " via " + actor.Via
	}
	created, output, err := source.WritePlan(ctx, r.Source, plan, registry.Person{}, func(t *source.NewTag) {
		t.Message = strings.TrimRight(t.Message, "\n") + "\n\n" + trailer + "\n"
	})
	res := Result{Output: output}
	for _, t := range created {
		res.Tags = append(res.Tags, t.Name)
	}
	if err != nil {
		return res, err
	}
	res.Events = s.settle(ctx, repo, res.Tags)
	return res, nil
}

// planner resolves the request's ref and returns what plans it against
// the registry as it is at each attempt.
func planner(ctx context.Context, r Repository, op access.Operation, req Request) (func(*registry.Registry) (registry.Plan, error), error) {
	ref := req.Ref
	if op == access.Register && ref == "" {
		ref = "HEAD"
	}
	commit := ""
	if ref != "" {
		c, err := r.Source.Commit(ctx, ref)
		if errors.Is(err, source.ErrNotFound) {
			// Refused in GTO's order and words, once the registry is read.
			req.Ref = ref
			return req.PlanUnknownRef(op, false), nil
		}
		if err != nil {
			return nil, err
		}
		commit = c.Hash
	}
	return plans(r, op, req, commit), nil
}

// plans returns what plans the request, its ref resolved to commit ("" for
// none), against the registry as it is at each attempt: GTO's rules and,
// for an assignment, the promotion order.
func plans(r Repository, op access.Operation, req Request, commit string) func(*registry.Registry) (registry.Plan, error) {
	plan := req.Plan(op, commit, false)
	if op != access.Assign || req.Force {
		return plan
	}
	return func(reg *registry.Registry) (registry.Plan, error) {
		p, err := plan(reg)
		if err == nil {
			err = checkPromotion(reg, r.Promotion, req.Artifact, req.Stage, req.Version, commit)
		}
		return p, err
	}
}

// registrationAllowed refuses an assignment whose plan registers a
// version first (gto registers one at a commit that has none) unless the
// principal may register too: the registration is a tag and an event of
// its own, which a scope that allows assign alone does not grant.
func registrationAllowed(plan func(*registry.Registry) (registry.Plan, error), p access.Principal, repo string) func(*registry.Registry) (registry.Plan, error) {
	return func(reg *registry.Registry) (registry.Plan, error) {
		pl, err := plan(reg)
		if err != nil {
			return pl, err
		}
		for _, t := range pl.Create {
			if t.Action != tagparse.Register {
				continue
			}
			if err := p.Check(access.Request{Repository: repo, Operation: access.Register}); err != nil {
				return registry.Plan{}, fmt.Errorf("%w: no version is registered at the commit, and assigning it a stage would register one "+
					"(%s); assign a registered version, or skip the registration (skip_registration, or --sr on the command line)", err, t.Name)
			}
		}
		return pl, nil
	}
}

// baseline makes sure hookd has listed the repository before writing to
// it. The first listing takes the tags it finds as history and records no
// events for them; were it to happen only after the write (hookd just
// started, or the repository was just configured), the new tags would be
// taken for history too, and never deployed.
func (s *Service) baseline(ctx context.Context, repository string) error {
	if s.Settle == nil {
		return nil
	}
	l, err := s.Store.Listing(ctx, repository)
	if err != nil {
		return err
	}
	if !l.ListedAt.IsZero() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.settleTimeout())
	defer cancel()
	if err := s.Settle(ctx, repository); err != nil {
		return fmt.Errorf("list %s's tags before writing: %w", repository, err)
	}
	return nil
}

func (s *Service) settleTimeout() time.Duration {
	if s.SettleTimeout == 0 {
		return 10 * time.Second
	}
	return s.SettleTimeout
}

// settle records the events of the created tags through the pipeline and
// returns them. Failing here fails nothing: the tags exist, and the
// webhook or the reconciler records their events later.
func (s *Service) settle(ctx context.Context, repository string, tags []string) []store.Event {
	if s.Settle == nil || len(tags) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.settleTimeout())
	defer cancel()
	if err := s.Settle(ctx, repository); err != nil {
		s.logger().Warn("tags created; their events will be recorded when the webhook or the reconciler sees them",
			"repository", repository, "tags", tags, "error", err)
		return nil
	}
	// The new events are the newest; a page of 100 covers the tags of one
	// write even with other writers' events in between.
	evs, err := s.Store.Events(ctx, store.EventFilter{Repository: repository, Page: store.Page{Limit: 100}})
	if err != nil {
		s.logger().Warn("could not read the events of created tags", "repository", repository, "error", err)
		return nil
	}
	var out []store.Event
	for _, name := range tags {
		for _, e := range evs {
			if e.TagName == name {
				out = append(out, e)
			}
		}
	}
	return out
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// audit records the write's outcome. A write that was carried out but not
// audited is logged loudly: the tags exist, their messages say who asked.
func (s *Service) audit(ctx context.Context, actor Actor, repo string, op access.Operation, req Request, res Result, err error) {
	body, _ := json.Marshal(req)
	e := store.AuditEntry{
		Principal: actor.Principal.Name, Via: actor.Via, Repository: repo, Operation: string(op),
		Artifact: req.Artifact, Version: req.Version, Stage: req.Stage, Request: string(body),
		Status: Status(err), Tags: slices.Clip(res.Tags),
	}
	if err != nil {
		e.Error = err.Error()
	}
	// The request's own context may be cancelled already (a client gone);
	// the record must still be written.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, aerr := s.Store.RecordAudit(actx, e); aerr != nil {
		s.logger().Error("could not record the audit entry of a write", "principal", e.Principal, "repository", repo,
			"operation", op, "status", e.Status, "tags", res.Tags, "error", aerr)
	}
}

// Status is the HTTP status a write's error is answered with: 201 for
// none, 403 outside the principal's scopes, 404 for an unknown
// repository, artifact, version or ref, 409 for what GTO's rules or the
// promotion order refuse (and for losing every race to other writers),
// 422 for a malformed request, 502 when the repository's host failed.
func Status(err error) int {
	var (
		denied    *access.DeniedError
		rule      *registry.RuleError
		promotion *PromotionError
		input     *InputError
		rinput    *registry.InputError
		notFound  *registry.NotFoundError
	)
	switch {
	case err == nil:
		return 201
	case errors.As(err, &denied):
		return 403
	case errors.Is(err, ErrUnknownRepository), errors.As(err, &notFound):
		return 404
	case errors.As(err, &rule), errors.As(err, &promotion), errors.Is(err, source.ErrContention), errors.Is(err, source.ErrTagExists):
		return 409
	case errors.As(err, &input), errors.As(err, &rinput):
		return 422
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return 504
	}
	return 502
}

// Code is the error code of an API error body for err.
func Code(err error) string {
	switch Status(err) {
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 409:
		return "conflict"
	case 422:
		return "invalid"
	case 504:
		return "timeout"
	}
	return "upstream_failed"
}

// PromotionError is an assignment out of the repository's promotion order.
// An API answers it with 409.
type PromotionError struct {
	Artifact, Version, Stage, Previous string
	Order                              []string
}

func (e *PromotionError) Error() string {
	v := e.Version
	if v == "" {
		v = "the new version"
	}
	return fmt.Sprintf("%s of '%s' was never in stage '%s', which comes before '%s' (promotion order %s); a principal allowed to force may skip it",
		v, e.Artifact, e.Previous, e.Stage, strings.Join(e.Order, " → "))
}

// checkPromotion refuses an assignment to a stage of order whose version
// was never assigned the stage before it. A version registered by the
// assignment itself was in no stage.
func checkPromotion(reg *registry.Registry, order []string, artifact, stage, version, commit string) error {
	i := slices.Index(order, stage)
	if i <= 0 {
		return nil
	}
	prev := order[i-1]
	history := reg.History(artifact, true)
	if version == "" {
		for _, h := range history {
			if h.Event == "registration" && h.Commit == commit && h.Version != nil {
				version = *h.Version
			}
		}
	}
	for _, h := range history {
		if version != "" && h.Event == "assignment" && h.Version != nil && *h.Version == version && h.Stage != nil && *h.Stage == prev {
			return nil
		}
	}
	return &PromotionError{Artifact: artifact, Version: version, Stage: stage, Previous: prev, Order: order}
}

// Registry is the registry of the repository the API calls repo, read
// live from its tags, for a principal allowed to read it.
func (s *Service) Registry(ctx context.Context, p access.Principal, repo string) (*registry.Registry, error) {
	if err := p.Check(access.Request{Repository: repo, Operation: access.Read}); err != nil {
		return nil, err
	}
	r, err := s.Repository(repo)
	if err != nil {
		return nil, err
	}
	return source.Load(ctx, r.Source)
}
