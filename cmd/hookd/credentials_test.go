package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/internal/githubtest"
)

// A proxy or API-compatible server that repeats the Authorization header
// in its errors: the token never reaches hookd's log or the errors its
// jobs record, though the error itself does, so that operators see why
// listing failed.
func TestGitHubErrorsKeepTheTokenOut(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{Owner: "acme", Name: "models", Token: "ghp_do-not-leak-me-0123456789"})
	gh.InjectRESTFault(githubtest.RESTFault{Kind: githubtest.EchoAuthorization, Path: "/git/matching-refs/", Count: 1000})
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookd.yaml")
	writeFile(t, cfgPath, "repositories:\n  - github: acme/models\n    secret: s3cret\n    token: ${GITHUB_TOKEN}\n    api_url: "+gh.APIURL()+"\n")
	d := startDaemon(t, dir, append(gitEnv(t), "GITHUB_TOKEN="+gh.Token()), "--config", cfgPath)
	failed := d.WaitLog("jobexecutor.JobExecutor: Job errored")
	d.Stop()

	if e, _ := failed["error"].(string); !strings.Contains(e, "Bad credentials") || !strings.Contains(e, "[redacted]") {
		t.Errorf("the failed listing was logged as %v; want GitHub's message with the token redacted", failed)
	}
	if strings.Contains(d.LogText(), gh.Token()) {
		t.Errorf("the token is in the log:\n%s", d.LogText())
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var errs string
	if err := db.QueryRow(`SELECT CAST(errors AS TEXT) FROM river_job WHERE kind = 'reconcile_repository' AND errors IS NOT NULL`).Scan(&errs); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(errs, gh.Token()) || !strings.Contains(errs, "[redacted]") {
		t.Errorf("the job's recorded errors: %s; want them without the token", errs)
	}
}
