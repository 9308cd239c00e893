package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hookd-dev/hookd/internal/browsertest"
	"github.com/hookd-dev/hookd/internal/githubtest"
)

// The dashboard end to end, in a real headless Chromium: `hookd serve`
// with a GitHub repository (the stand-in) and a local one, deploy actions
// that run commands, an admin token and a CI token that may not touch
// prod. Every page is saved as a screenshot at desktop and phone width
// ($HOOKD_SCREENSHOTS, else a temporary folder).

const (
	dashboardAdminToken = "dashboard-admin-t0ken"
	dashboardCIToken    = "dashboard-ci-t0ken"
)

type dashboard struct {
	*pipeline
	b    *browsertest.Browser
	base string
	// smokeOK is the file whose presence makes the smoke action pass.
	smokeOK string
}

func newDashboard(t *testing.T) *dashboard {
	t.Helper()
	p := &pipeline{t: t, env: gitEnv(t)}
	p.gh = githubtest.New(t, githubtest.Options{Owner: "acme", Name: "models"})
	dir := t.TempDir()
	p.clone = filepath.Join(dir, "clone")
	p.git(dir, "clone", "-q", p.gh.AuthGitURL(), p.clone)
	writeFile(t, filepath.Join(p.clone, ".gto"), "stages: [dev, staging, prod]\n")
	writeFile(t, filepath.Join(p.clone, "artifacts.yaml"),
		"churn:\n  type: model\n  path: models/churn\n  description: Predicts which customers leave\n  labels: [tabular]\n")
	p.git(p.clone, "add", ".gto", "artifacts.yaml")
	p.commit("model.txt", "v1", "2024-01-01T10:00:00+00:00")
	p.tag("churn@v1.0.0", "2024-01-02T10:00:00+00:00")
	p.commit("model.txt", "v2", "2024-01-03T10:00:00+00:00")
	p.tag("churn@v1.1.0", "2024-01-03T11:00:00+00:00")
	p.tag("churn#dev#1", "2024-01-03T12:00:00+00:00")
	p.git(p.clone, "push", "-q", "origin", "HEAD:main", "--tags")

	// A repository on this machine, as a post-receive hook would report.
	local := filepath.Join(dir, "local")
	p.git(dir, "init", "-q", "-b", "main", local)
	p.git(local, "commit", "-q", "--allow-empty", "-m", "first")
	p.git(local, "tag", "-a", "-m", "first fraud model", "fraud@v0.1.0")

	d := &dashboard{pipeline: p, smokeOK: filepath.Join(dir, "smoke-ok")}
	p.config = filepath.Join(dir, "hookd.yaml")
	writeFile(t, p.config, fmt.Sprintf(`database_url: %s
repositories:
  - github: acme/models
    secret: %s
    token: %s
    api_url: %s
    reconcile_interval: 1h
  - path: %s
    as: acme/local
    secret: local-s3cret
    reconcile_interval: 1h
actions:
  - name: deploy
    on: {event: [assignment], stage: "*"}
    exec: {command: ["sh", "-c", "echo deploying $HOOKD_ARTIFACT $HOOKD_VERSION to $HOOKD_STAGE"], timeout: 1m}
  - name: smoke
    on: {event: [assignment], stage: staging}
    max_attempts: 1
    exec: {command: ["sh", "-c", "echo smoke test of $HOOKD_VERSION; test -e \"$1\"", "smoke", "%s"], timeout: 1m}
tokens:
  - name: tests
    sha256: %x
    scopes: [{repositories: "*", operations: "*", stages: "*"}]
  - name: admin
    sha256: %x
    scopes: [{repositories: "*", operations: "*", stages: "*"}]
  - name: ci
    sha256: %x
    scopes: [{repositories: "acme/*", operations: [read, register, assign], stages: [dev, staging]}]
`, filepath.Join(dir, "hookd.db"), pipelineSecret, p.gh.Token(), p.gh.APIURL(), local, d.smokeOK,
		sha256.Sum256([]byte(pipelineToken)), sha256.Sum256([]byte(dashboardAdminToken)), sha256.Sum256([]byte(dashboardCIToken))))
	p.hookd = startDaemon(t, dir, p.env, "--config", p.config)
	p.hookd.WaitLog("tags listed") // both baselines
	p.hookd.WaitLog("tags listed")
	p.hookID = p.gh.AddHook("http://"+p.hookd.Addr+"/webhooks/github", pipelineSecret)
	d.b = browsertest.New(t)
	d.base = "http://" + p.hookd.Addr
	return d
}

// open navigates to a dashboard path and waits for the page.
func (d *dashboard) open(path string) {
	d.t.Helper()
	d.b.Do(chromedp.Navigate(d.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// waitText waits, without reloading, until the element shows text. It
// asks the page again until then: a navigation under way makes a
// question fail, which is no answer yet.
func (d *dashboard) waitText(selector, text string) {
	d.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.replace(/\s+/g, ' ').includes(%q); })()`, selector, text)
	deadline := time.Now().Add(waitLimit)
	for {
		if ok, err := browsertest.Ask(d.b, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s never showed %q within %s; it shows:\n%s", selector, text, waitLimit, d.text(selector))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text is an element's text, its white space runs made one space ("" when
// it is not there). Unlike what it looks like on screen, it does not
// depend on CSS (upper-case headings, say).
func (d *dashboard) text(selector string) string {
	d.t.Helper()
	return browsertest.Get(d.b, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent.replace(/\s+/g, ' ')`, selector)))
}

// eval runs JavaScript in the page (DevTools is not bound by the page's
// CSP) and returns its value.
func eval[T any](d *dashboard, js string) T {
	d.t.Helper()
	return browsertest.Get(d.b, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// pick sets a form control's value as a person would, so that htmx sees
// the change.
func (d *dashboard) pick(selector, value string) {
	d.t.Helper()
	eval[bool](d, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
		e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, selector, value))
}

func (d *dashboard) signIn(token string) {
	d.t.Helper()
	d.open("/ui/")
	d.waitText("h1", "Sign in")
	d.b.Do(chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#models-table")))
}

// remoteTags lists the GTO tags of the GitHub repository matching prefix.
func (d *dashboard) remoteTags(prefix string) []string {
	d.t.Helper()
	var out []string
	for _, line := range strings.Split(d.git(d.clone, "ls-remote", "--tags", "origin"), "\n") {
		if _, ref, ok := strings.Cut(line, "\trefs/tags/"); ok && strings.HasPrefix(ref, prefix) && !strings.HasSuffix(ref, "^{}") {
			out = append(out, ref)
		}
	}
	return out
}

func TestDashboardInBrowser(t *testing.T) {
	d := newDashboard(t)

	// Signing in: the page asks for a token, and a wrong one is refused.
	d.open("/ui/runs")
	d.waitText("h1", "Sign in")
	d.b.Screenshot("signin")
	d.b.Do(chromedp.SendKeys(chromedp.CSS("#token"), "not-a-token"), chromedp.Submit(chromedp.CSS("#token")))
	d.waitText(".signin", "not one of hookd's")
	d.b.Do(chromedp.SendKeys(chromedp.CSS("#token"), dashboardAdminToken), chromedp.Submit(chromedp.CSS("#token")))
	d.waitText("h1", "Deployments") // back where the sign-in was asked for

	// The models table: a column per stage in .gto's order, both repositories.
	d.open("/ui/")
	d.waitText("#models-table", "churn")
	if heads := d.text("#models-table thead"); !regexp.MustCompile(`(?is)dev.*staging.*prod`).MatchString(heads) {
		t.Errorf("stage columns %q, want dev, staging, prod in order", heads)
	}
	for _, want := range []string{"Predicts which customers leave", "acme/models", "v1.1.0", "fraud", "acme/local", "v0.1.0"} {
		if !strings.Contains(d.text("#models-table"), want) {
			t.Errorf("the models table has no %q:\n%s", want, d.text("#models-table"))
		}
	}
	d.b.Screenshot("models")

	// A model's page, and the Assign stage dialog over it.
	d.b.Do(chromedp.Click(chromedp.CSS(`a.artifact[href$="/artifacts/churn"]`)), chromedp.WaitVisible(chromedp.CSS("#model-live")))
	for _, want := range []string{"models/churn", "v1.0.0", "v1.1.0", "assigned dev to v1.1.0"} {
		if page := d.text("main"); !strings.Contains(page, want) {
			t.Errorf("the model page has no %q:\n%s", want, page)
		}
	}
	d.b.Screenshot("model")
	d.b.Do(chromedp.Click(chromedp.CSS(`.model-head a.button.primary`)), chromedp.WaitVisible(chromedp.CSS("#write-form")))
	d.pick("#f-version", "v1.1.0")
	d.pick("#f-stage", "staging")
	d.b.Do(chromedp.SendKeys(chromedp.CSS("#f-message"), "promote after the A/B test"))
	d.waitText("#preview", "staging: nothing → v1.1.0 promotion")
	d.waitText("#preview", "Creates churn#staging#")
	d.b.Screenshot("assign-dialog")
	d.b.Do(chromedp.Click(chromedp.CSS(`#write-form button[type=submit]`)))
	d.waitText("#write-result", "Created churn#staging#")
	tag := regexp.MustCompile(`churn#staging#\d+`).FindString(d.text("#write-result"))
	if got := d.remoteTags("churn#staging"); len(got) != 1 || got[0] != tag {
		t.Fatalf("GitHub has staging tags %q, want the dialog's %q", got, tag)
	}
	d.b.Do(chromedp.Click(chromedp.CSS(`.dialog button.close`)), chromedp.WaitNotPresent(chromedp.CSS(".dialog")))

	// Without a reload: the history, the stages, and the deploy runs
	// appearing and finishing (smoke fails: its file is missing).
	d.waitText("#model-live", "assigned staging to v1.1.0")
	d.waitText("#model-live", "promote after the A/B test")
	d.waitText("#model-live .stages", "staging")
	d.waitText("#model-live .pipeline", "deploy")
	d.waitText("#model-live .pipeline", "in sync")
	d.waitText("#model-live .pipeline", "never deployed")
	d.b.Screenshot("model-after-assign")
	d.open("/ui/")
	d.waitText("#models-table", "deploy failed")

	// The failed smoke run, retried once its file exists.
	d.open("/ui/runs?status=failed")
	d.waitText("#runs-live", "smoke")
	d.b.Screenshot("runs")
	// The live table is swapped every few seconds: follow the link's
	// address rather than click a node that may be replaced meanwhile.
	d.open(eval[string](d, `document.querySelector('#runs-live table a[href^="/ui/runs/"]').getAttribute('href')`))
	d.waitText("#run-live", "exit status 1")
	d.waitText("#run-live", "smoke test of v1.1.0")
	d.b.Screenshot("run-failed")
	writeFile(t, d.smokeOK, "")
	d.b.Do(chromedp.Click(chromedp.CSS(`#run-live button[aria-label^="Retry"]`)))
	d.waitText("#run-live h1", "succeeded")
	d.waitText("#run-live", "Attempt 2")
	d.b.Screenshot("run")

	// Deliveries: the hook's ping, a pushed tag's webhook and the event it
	// produced, a replay, and events no webhook announced.
	d.tag("churn@v1.2.0", "2024-01-04T10:00:00+00:00")
	d.push("churn@v1.2.0")
	d.open("/ui/deliveries")
	d.waitText("#deliveries-live", "registration churn v1.2.0")
	d.waitText("#deliveries-live", "ping") // the hook's creation, recorded
	d.b.Do(chromedp.Click(chromedp.CSS(`#deliveries-live button[aria-label^="Replay"]`)), chromedp.WaitVisible(chromedp.CSS("#deliveries-live")))
	d.hookd.WaitLog("delivery replayed")
	for i := range 4 {
		d.tag(fmt.Sprintf("churn@v1.3.%d", i), fmt.Sprintf("2024-01-05T10:0%d:00+00:00", i))
	}
	d.push("churn@v1.3.0", "churn@v1.3.1", "churn@v1.3.2", "churn@v1.3.3") // more than three: no webhook
	d.hookd.Signal(syscall.SIGHUP)
	d.open("/ui/deliveries")
	d.waitText("#deliveries-live", "no webhook arrived for these")
	d.waitText("#deliveries-live", "churn@v1.3.3")
	d.b.Screenshot("deliveries")

	// The audit log has the dashboard's write.
	d.open("/ui/audit")
	d.waitText("main table", "dashboard")
	d.waitText("main table", "assign churn")
	d.b.Screenshot("audit")

	// A record that does not exist is a 404 page.
	for _, path := range []string{"/ui/repos/acme/models/artifacts/nope", "/ui/runs/999999", "/ui/nowhere"} {
		d.open(path)
		d.waitText("main", "Not Found")
	}
	d.b.Screenshot("not-found")

	// A form without its CSRF token is refused, and writes nothing.
	status := eval[int](d, `fetch('/ui/repos/acme/models/assign', {method: 'POST',
		body: new URLSearchParams({artifact: 'churn', version: 'v1.2.0', stage: 'prod'})}).then(r => r.status)`)
	if status != 403 || len(d.remoteTags("churn#prod")) != 0 {
		t.Errorf("a write without CSRF token: %d, prod tags %q; want 403 and none", status, d.remoteTags("churn#prod"))
	}

	// The CI token is not offered prod, and is refused when it posts it.
	d.b.Do(chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.CSS("#token")))
	d.signIn(dashboardCIToken)
	d.open("/ui/repos/acme/models/assign?artifact=churn")
	if opts := d.text("#f-stage"); strings.Contains(opts, "prod") || !strings.Contains(opts, "staging") {
		t.Errorf("the CI token is offered the stages %q", opts)
	}
	if strings.Contains(d.text("#models-table"), "Deprecate") {
		t.Error("the CI token is offered deprecation")
	}
	eval[bool](d, `(() => { const s = document.querySelector('#f-stage'); s.add(new Option('prod', 'prod')); return true; })()`)
	d.pick("#f-version", "v1.2.0")
	d.pick("#f-stage", "prod")
	d.waitText("#preview", "ci may not assign stage \"prod\"")
	d.b.Do(chromedp.Click(chromedp.CSS(`#write-form button[type=submit]`)))
	d.waitText("#write-result", "Refused (403)")
	if got := d.remoteTags("churn#prod"); len(got) != 0 {
		t.Errorf("a refused write created %q", got)
	}
	d.open("/ui/audit")
	d.waitText("main table", "403")
	d.hookd.Stop()
	if dir := os.Getenv(browsertest.ScreenshotsEnv); dir != "" {
		t.Logf("screenshots in %s", dir)
	}
}
