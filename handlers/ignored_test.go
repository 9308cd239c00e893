package handlers_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/store"
)

// branchPush is a push of a few commits to main, about 8 KB like most of
// what GitHub sends.
func branchPush(n int) []byte {
	var commits []string
	for i := range 13 {
		commits = append(commits, fmt.Sprintf(`{"id":"%040d","tree_id":"%040d","distinct":true,"message":"Retrain the churn model, pass %d of %d",`+
			`"timestamp":"2026-11-30T10:00:00+01:00","url":"https://github.com/acme/models/commit/%040d",`+
			`"author":{"name":"Ada Lovelace","email":"ada@example.com","username":"ada"},`+
			`"committer":{"name":"GitHub","email":"noreply@github.com","username":"web-flow"},`+
			`"added":["models/churn/model.pkl"],"removed":[],"modified":["dvc.lock","params.yaml","metrics.json"]}`, n*100+i, i, i, n, i))
	}
	return []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"%040d","after":"%040d","created":false,"deleted":false,`+
		`"commits":[%s],"head_commit":%s,"repository":{"id":123456789,"name":"models","full_name":"`+repo+`","private":true},`+
		`"pusher":{"name":"ada","email":"ada@example.com"},"sender":{"login":"ada","id":2}}`,
		n, n+1, strings.Join(commits, ","), commits[len(commits)-1]))
}

// An ignored branch push keeps what hookd reads of it (a replay decides the
// same), not its commits: at most 1 KB of database each.
func TestIgnoredBranchPushIsStoredSmall(t *testing.T) {
	const n = 400
	// The same schema and first push in both: the difference is n pushes.
	small, large := newFixture(t), newFixture(t)
	for i := 0; i <= n; i++ {
		body := branchPush(i)
		if len(body) < 8000 {
			t.Fatalf("test push is %d bytes, want a realistic 8 KB", len(body))
		}
		for _, f := range []*fixture{small, large} {
			if f == small && i > 0 {
				continue
			}
			if r := f.github("push", fmt.Sprintf("push-%d", i), body); r.status != http.StatusAccepted || r.body["status"] != "ignored" {
				t.Fatalf("push %d: %d %v", i, r.status, r.body)
			}
		}
	}
	got, err := large.store.Delivery(ctx(t), "push-7")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.DeliveryIgnored || !bytes.Contains(got.Body, []byte(`"ref":"refs/heads/main"`)) ||
		!bytes.Contains(got.Body, []byte(`"full_name":"`+repo+`"`)) || len(got.Body) > 300 {
		t.Errorf("stored %s (%d bytes): %s", got.Status, len(got.Body), got.Body)
	}
	for _, f := range []*fixture{small, large} {
		if err := f.store.Close(); err != nil { // checkpoints the WAL into the file
			t.Fatal(err)
		}
	}
	if per := (fileSize(t, large.dbPath) - fileSize(t, small.dbPath)) / n; per > 1024 {
		t.Errorf("%d bytes of database per ignored branch push, want at most 1 KB", per)
	} else {
		t.Logf("%d bytes of database per ignored branch push", per)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
