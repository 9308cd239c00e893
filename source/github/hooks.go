package github

import (
	"context"
	"time"

	"github.com/google/go-github/v60/github"
)

// Hook is a repository webhook as `hookd github setup` sees it. Its secret
// is never readable; HasSecret says whether it has one.
type Hook struct {
	ID          int64
	URL         string
	ContentType string // "json" or "form"
	Events      []string
	Active      bool
	HasSecret   bool
}

// HookDelivery is one attempt GitHub made to deliver a hook's event.
type HookDelivery struct {
	ID          int64
	GUID        string
	Event       string
	StatusCode  int    // 0 when there was no answer
	Status      string // GitHub's words: "OK", "Invalid HTTP Response: 404", ...
	DeliveredAt time.Time
}

func hookOf(h *github.Hook) Hook {
	cfg := h.GetConfig()
	return Hook{ID: h.GetID(), URL: cfg.GetURL(), ContentType: cfg.GetContentType(), Events: h.Events,
		Active: h.GetActive(), HasSecret: cfg.GetSecret() != ""}
}

// Hooks lists the repository's webhooks, every page of them.
func (r *Repo) Hooks(ctx context.Context) ([]Hook, error) {
	var out []Hook
	opts := &github.ListOptions{PerPage: 100}
	for {
		var page []*github.Hook
		resp, err := r.call(ctx, true, func() (resp *github.Response, err error) {
			page, resp, err = r.gh.Repositories.ListHooks(ctx, r.owner, r.name, opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, h := range page {
			out = append(out, hookOf(h))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// hookdHook is the hook hookd needs: push events, JSON payloads, active,
// signed with secret.
func hookdHook(url, secret string) *github.Hook {
	return &github.Hook{
		Events: []string{"push"},
		Active: github.Bool(true),
		Config: &github.HookConfig{URL: github.String(url), ContentType: github.String("json"),
			InsecureSSL: github.String("0"), Secret: github.String(secret)},
	}
}

// CreateHook creates the webhook hookd needs at url; GitHub pings it at
// once.
func (r *Repo) CreateHook(ctx context.Context, url, secret string) (Hook, error) {
	var h *github.Hook
	_, err := r.call(ctx, false, func() (resp *github.Response, err error) {
		h, resp, err = r.gh.Repositories.CreateHook(ctx, r.owner, r.name, hookdHook(url, secret))
		return resp, err
	})
	if err != nil {
		return Hook{}, err
	}
	return hookOf(h), nil
}

// ConfigureHook makes hook id the webhook hookd needs, as CreateHook would
// have made it. The whole config is sent: GitHub drops a secret a config
// does not repeat.
func (r *Repo) ConfigureHook(ctx context.Context, id int64, url, secret string) (Hook, error) {
	var h *github.Hook
	_, err := r.call(ctx, false, func() (resp *github.Response, err error) {
		h, resp, err = r.gh.Repositories.EditHook(ctx, r.owner, r.name, id, hookdHook(url, secret))
		return resp, err
	})
	if err != nil {
		return Hook{}, err
	}
	return hookOf(h), nil
}

// PingHook asks GitHub to send the hook a ping.
func (r *Repo) PingHook(ctx context.Context, id int64) error {
	_, err := r.call(ctx, false, func() (*github.Response, error) {
		return r.gh.Repositories.PingHook(ctx, r.owner, r.name, id)
	})
	return err
}

// HookDeliveries returns the hook's latest deliveries, newest first, at
// most n (100 at most).
func (r *Repo) HookDeliveries(ctx context.Context, id int64, n int) ([]HookDelivery, error) {
	var page []*github.HookDelivery
	_, err := r.call(ctx, true, func() (resp *github.Response, err error) {
		page, resp, err = r.gh.Repositories.ListHookDeliveries(ctx, r.owner, r.name, id, &github.ListCursorOptions{PerPage: min(n, 100)})
		return resp, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]HookDelivery, 0, len(page))
	for _, d := range page {
		out = append(out, HookDelivery{ID: d.GetID(), GUID: d.GetGUID(), Event: d.GetEvent(), StatusCode: d.GetStatusCode(),
			Status: d.GetStatus(), DeliveredAt: d.GetDeliveredAt().Time})
	}
	return out, nil
}
