package change_test

import (
	"slices"
	"testing"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/source"
)

// Preview answers what Do then does: the same tags, or the same refusal
// in the same words, and writes nothing itself.
func TestPreviewSaysWhatDoWould(t *testing.T) {
	r := newRig(t)
	r.promotion = []string{"dev", "prod"}
	head := r.repo.Commit("model.txt", "v1\n", "2024-01-02T09:00:00+00:00")
	r.repo.Tag("churn@v1.0.0", head, "2024-01-02T10:00:00+00:00", "first")
	unversioned := r.repo.Commit("model.txt", "v2\n", "2024-01-03T09:00:00+00:00")
	r.baseline()
	assignOnly := access.Principal{Name: "ci", Scopes: []access.Scope{{Repositories: []string{"*"}, Operations: []string{"assign"}, Stages: []string{"*"}}}}
	repo := change.Repository{Source: r.src, Promotion: r.promotion}

	for _, c := range []struct {
		name   string
		p      access.Principal
		req    change.Request
		commit string
	}{
		{"out of the promotion order", admin, change.Request{Artifact: "churn", Version: "v1.0.0", Stage: "prod"}, ""},
		{"in order", admin, change.Request{Artifact: "churn", Version: "v1.0.0", Stage: "dev"}, ""},
		{"then prod", admin, change.Request{Artifact: "churn", Version: "v1.0.0", Stage: "prod"}, ""},
		{"registering without the right to", assignOnly, change.Request{Artifact: "churn", Ref: unversioned, Stage: "dev"}, unversioned},
		{"an unknown version", admin, change.Request{Artifact: "churn", Version: "v9.9.9", Stage: "dev"}, ""},
	} {
		reg, err := source.Load(r.ctx, r.src)
		if err != nil {
			t.Fatal(err)
		}
		before := r.tags()
		plan, perr := change.Preview(reg, repo, c.p, repoName, access.Assign, c.req, c.commit)
		if !slices.Equal(r.tags(), before) {
			t.Fatalf("%s: the preview wrote tags", c.name)
		}
		res, derr := r.do(c.p, access.Assign, c.req)
		var planned []string
		for _, tag := range plan.Create {
			planned = append(planned, tag.Name)
		}
		switch {
		case (perr == nil) != (derr == nil) || perr != nil && perr.Error() != derr.Error():
			t.Errorf("%s: preview %v, do %v", c.name, perr, derr)
		case !slices.Equal(planned, res.Tags) || !slices.Equal(plan.Output, res.Output):
			t.Errorf("%s: preview plans %q %q, do created %q %q", c.name, planned, plan.Output, res.Tags, res.Output)
		}
	}
}
