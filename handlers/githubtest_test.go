package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/internal/githubtest"
	"github.com/hookd-dev/hookd/store"
)

// git runs the real git CLI in dir with the user's configuration cut off.
func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Ada", "-c", "user.email=ada@example.com"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// A tag pushed with real git to the GitHub stand-in reaches hookd as GitHub
// would send it, and is stored; GitHub's Redeliver button queues the same
// delivery for processing again and stores nothing new.
func TestGitHubStandInPushEndToEnd(t *testing.T) {
	gh := githubtest.New(t, githubtest.Options{Owner: "acme", Name: "models"})
	st := openStore(t, t.TempDir()+"/hookd.db")
	h := handlers.New(handlers.Options{Store: st})
	h.SetSecrets(handlers.Secrets{gh.FullName(): "It's a Secret to Everybody"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	hookID := gh.AddHook(srv.URL+"/webhooks/github", "It's a Secret to Everybody")

	work := t.TempDir()
	git(t, work, "clone", "--quiet", gh.AuthGitURL(), ".")
	git(t, work, "commit", "--quiet", "--allow-empty", "-m", "model")
	git(t, work, "tag", "-a", "-m", "Registering artifact churn-model version v1.0.0", "churn-model@v1.0.0")
	git(t, work, "push", "--quiet", "origin", "HEAD:main", "churn-model@v1.0.0")
	if err := gh.WaitIdle(ctx(t)); err != nil {
		t.Fatal(err)
	}

	var push githubtest.Delivery
	for _, d := range gh.Deliveries() {
		want := http.StatusAccepted
		if d.Event == "ping" {
			want = http.StatusOK
		}
		if d.StatusCode != want {
			t.Errorf("%s delivery answered %d, want %d", d.Event, d.StatusCode, want)
		}
		if d.Event == "push" && strings.Contains(string(d.Payload), `"refs/tags/churn-model@v1.0.0"`) {
			push = d
		}
	}
	if push.GUID == "" {
		t.Fatalf("no push delivery for the tag among %d deliveries", len(gh.Deliveries()))
	}
	stored, err := st.Delivery(ctx(t), push.GUID)
	if err != nil || stored.Event != "push" || stored.Repository != "acme/models" || string(stored.Body) != string(push.Payload) {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	before, _ := st.Deliveries(ctx(t), store.DeliveryFilter{})
	jobs, _ := st.QueueStats(ctx(t))

	again, err := gh.Redeliver(hookID, push.ID)
	if err != nil || again.StatusCode != http.StatusAccepted {
		t.Fatalf("redelivery answered %d, %v; want 202", again.StatusCode, err)
	}
	after, _ := st.Deliveries(ctx(t), store.DeliveryFilter{})
	if len(after) != len(before) {
		t.Fatalf("redelivery stored something: %d deliveries, was %d", len(after), len(before))
	}
	if now, err := st.QueueStats(ctx(t)); err != nil || now.Available != jobs.Available+1 {
		t.Errorf("jobs queued: %d, %v; want one more than the %d before, the redelivery's", now.Available, err, jobs.Available)
	}
}
