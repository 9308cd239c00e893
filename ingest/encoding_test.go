package ingest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
)

// Old repositories hold tags whose tagger and message are Latin-1, not
// UTF-8. Such a tag is recorded byte for byte on PostgreSQL as on SQLite,
// and the tags after it are recorded too (on PostgreSQL one such tag used
// to fail every reconciliation: invalid byte sequence for encoding "UTF8").
func TestTagTextThatIsNotUTF8(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "hookd.db") }},
		{"postgres", func(t *testing.T) string { return pg.Database(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, db.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			repo := gittest.New(t)
			sources := func(string) (source.Source, error) { return gitdir.Open(ctx, repo.Dir) }
			proc := ingest.New(st, sources)
			commit := repo.Commit("model.txt", "weights", "2024-01-01T00:00:00Z")
			reconcile := func() {
				t.Helper()
				if err := proc.Reconcile(ctx, repoName); err != nil {
					t.Fatalf("reconcile: %v", err)
				}
			}
			reconcile() // the baseline: from here on every tag is news

			const tagger, message = "Jos\xe9 Mar\xeda", "Modell f\xfcr Kunden \\ v1\n\nLatin-1, as in 2009.\n"
			repo.GitEnv([]string{"GIT_COMMITTER_NAME=" + tagger, "GIT_COMMITTER_DATE=2024-01-02T00:00:00Z"},
				"tag", "-a", "-m", message, "churn@v1.0.0", commit)
			reconcile()
			repo.Tag("churn#prod#1", commit, "2024-01-03T00:00:00Z", "to prod")
			reconcile()

			evs, err := st.Events(ctx, store.EventFilter{Repository: repoName})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]store.Event{}
			for _, e := range evs {
				got[e.TagName] = e
			}
			// An event's message is the tag's without its last newline, as GTO shows it.
			reg := got["churn@v1.0.0"]
			if want := strings.TrimSuffix(message, "\n"); reg.Tagger.Name != tagger || reg.Message != want {
				t.Errorf("registration recorded with tagger %q, message %q; want %q, %q", reg.Tagger.Name, reg.Message, tagger, want)
			}
			if a := got["churn#prod#1"]; a.Type != store.EventAssignment || fmt.Sprint(a.ActiveAfter) != "[v1.0.0]" {
				t.Errorf("the tag after it: %+v, want the assignment of v1.0.0 to prod", a)
			}
			tags, err := st.Tags(ctx, repoName, false)
			if err != nil || len(tags) != 2 || tags[1].Name != "churn@v1.0.0" || tags[1].Tagger.Name != tagger || tags[1].Message != message {
				t.Errorf("stored tags %+v, %v; want the Latin-1 one byte for byte", tags, err)
			}
		})
	}
}
