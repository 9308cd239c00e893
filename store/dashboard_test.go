package store

import (
	"fmt"
	"testing"
	"time"
)

// The fingerprint moves with every change Tags would show, and only then.
func TestTagsVersion(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		version := func() string {
			t.Helper()
			v, err := s.TagsVersion(ctx, "acme/models")
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		tag := func(object string) Tag {
			return Tag{Repository: "acme/models", Name: "churn@v1.0.0", ObjectSHA: object, CommitSHA: "c1", Annotated: true,
				Tagger: Tagger{Name: "Ann", When: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}}
		}
		seen := map[string]bool{version(): true}
		changed := func(what string) {
			t.Helper()
			v := version()
			if seen[v] {
				t.Errorf("after %s the version %q is one seen before", what, v)
			}
			seen[v] = true
		}
		step := func(what string, f func() error) {
			t.Helper()
			// first_seen and deleted_at are microseconds: a step within
			// the same one would be invisible to max().
			time.Sleep(2 * time.Microsecond)
			if err := f(); err != nil {
				t.Fatal(err)
			}
			changed(what)
		}
		step("a new tag", func() error { _, err := s.UpsertTag(ctx, tag("o1")); return err })
		same := version()
		if _, err := s.UpsertTag(ctx, tag("o1")); err != nil || version() != same {
			t.Errorf("the same tag stored again changed the version: %v", err)
		}
		if _, err := s.UpsertTag(ctx, Tag{Repository: "acme/other", Name: "x@v1.0.0", ObjectSHA: "o9", CommitSHA: "c9"}); err != nil || version() != same {
			t.Errorf("another repository's tag changed the version: %v", err)
		}
		step("a moved tag", func() error { _, err := s.UpsertTag(ctx, tag("o2")); return err })
		step("a deletion", func() error { _, err := s.DeleteTag(ctx, "acme/models", "churn@v1.0.0"); return err })
		step("the tag back", func() error { _, err := s.UpsertTag(ctx, tag("o2")); return err })
	})
}

// LatestRuns tells each environment's newest run and the newest that
// succeeded, per action, and nothing of other repositories or artifacts.
func TestLatestRuns(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		n := 0
		run := func(artifact, stage string, status RunStatus, actions ...string) []Run {
			t.Helper()
			n++
			e := event(fmt.Sprintf("obj-%d", n), EventAssignment)
			e.Artifact, e.Stage = artifact, stage
			rec, _, err := s.RecordEvent(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			runs, err := s.CreateRuns(ctx, rec.ID, actions)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range runs {
				if status == RunQueued {
					continue
				}
				if _, err := s.StartRun(ctx, r.ID, time.Minute); err != nil {
					t.Fatal(err)
				}
				if status != RunRunning {
					if err := s.FinishRun(ctx, r.ID, status, AttemptResult{}); err != nil {
						t.Fatal(err)
					}
				}
			}
			// By action, in the order asked for.
			byAction := make([]Run, len(actions))
			for _, r := range runs {
				for i, a := range actions {
					if r.Action == a {
						byAction[i] = r
					}
				}
			}
			return byAction
		}
		ok := run("churn", "prod", RunSucceeded, "deploy", "notify")
		run("churn", "prod", RunFailed, "deploy")
		latest := run("churn", "prod", RunQueued, "deploy")
		never := run("churn", "dev", RunFailed, "deploy")
		fraud := run("fraud", "prod", RunSucceeded, "deploy")

		got, err := s.LatestRuns(ctx, "acme/models", "churn")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			fmt.Sprintf("churn dev deploy: #%d failed, succeeded <none>", never[0].ID),
			fmt.Sprintf("churn prod deploy: #%d queued, succeeded #%d", latest[0].ID, ok[0].ID),
			fmt.Sprintf("churn prod notify: #%d succeeded, succeeded #%d", ok[1].ID, ok[1].ID),
		}
		show := func(ls []LaneRuns) []string {
			var out []string
			for _, l := range ls {
				succeeded := "<none>"
				if l.Succeeded != nil {
					succeeded = fmt.Sprintf("#%d", l.Succeeded.ID)
				}
				out = append(out, fmt.Sprintf("%s %s %s: #%d %s, succeeded %s", l.Artifact, l.Stage, l.Action, l.Latest.ID, l.Latest.Status, succeeded))
			}
			return out
		}
		if fmt.Sprint(show(got)) != fmt.Sprint(want) {
			t.Errorf("LatestRuns(churn):\n got %q\nwant %q", show(got), want)
		}
		all, err := s.LatestRuns(ctx, "acme/models", "")
		if err != nil || len(all) != 4 || all[3].Artifact != "fraud" || all[3].Latest.ID != fraud[0].ID {
			t.Errorf("LatestRuns of the repository: %q %v", show(all), err)
		}
		if other, err := s.LatestRuns(ctx, "acme/other", ""); err != nil || len(other) != 0 {
			t.Errorf("another repository: %q %v", show(other), err)
		}
	})
}

// Events can be read by the delivery that brought them, and those no
// delivery brought on their own.
func TestEventsByDelivery(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		for i, delivery := range []string{"d1", "d1", "", "d2"} {
			e := event(fmt.Sprintf("obj-%d", i), EventAssignment)
			e.DeliveryID = delivery
			if _, _, err := s.RecordEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			f    EventFilter
			want string
		}{
			{EventFilter{DeliveryID: "d1"}, "[obj-1 obj-0]"},
			{EventFilter{DeliveryID: "d2"}, "[obj-3]"},
			{EventFilter{Relisted: true}, "[obj-2]"},
		} {
			es, err := s.Events(ctx, c.f)
			var got []string
			for _, e := range es {
				got = append(got, e.TagObjectSHA)
			}
			if err != nil || fmt.Sprint(got) != c.want {
				t.Errorf("Events(%+v) = %v %v, want %s", c.f, got, err, c.want)
			}
		}
	})
}
