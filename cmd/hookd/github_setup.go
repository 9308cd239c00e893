package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/hookd-dev/hookd/config"
	"github.com/hookd-dev/hookd/source/github"
)

// `hookd github setup` creates (or finds, or repairs) the repository
// webhook hookd needs, says what to add to the configuration, and waits
// for GitHub's ping to reach the running hookd; --check only looks.

// setupFlags are github setup's options.
type setupFlags struct {
	config, url, envFile   string
	app, check, write      bool
	appID, installationID  int64
	privateKey             string
	wait                   time.Duration
	configured             *config.Repository // the repository's entry, if the config has one
	publicURL, secretVar   string
	pingBackoff, pingEvery time.Duration
}

func (a *app) addGitHub(root *cobra.Command) {
	gh := &cobra.Command{
		Use:   "github",
		Short: "Set up the GitHub side of a repository hookd watches",
	}
	var f setupFlags
	setup := &cobra.Command{
		Use:   "setup OWNER/NAME",
		Short: "Create the repository's webhook for hookd, print its repositories: entry, and wait for GitHub's ping",
		Long: `Create the webhook hookd needs on a GitHub repository: push events, JSON
payloads, a freshly generated secret, sent to public_url + /webhooks/github
(or --url). Print the repositories: entry for it, with the secret as a
${ENV} reference (--write adds it to --config), and the secret itself
(--env-file appends it there instead, readable by its owner only). Then
wait for GitHub's ping to reach the running hookd, pinging again until it
does: restart hookd with the new entry and the secret in its environment.

Run it again and it finds the hook instead of adding another; a hook that
is not as hookd needs it (events, content type, inactive, no secret) is
repaired. When --config already has the repository, its secret is kept.

--check changes nothing: it checks the hook's URL, events, content type,
activity, secret and last delivery, one line per problem, and exits 1 if
there is any.

Credentials: the configuration entry's token or app, else $GITHUB_TOKEN, or
--app with --app-id, --installation-id and --private-key (a GitHub App
installation with the Webhooks repository permission). $GITHUB_API_URL or
the entry's api_url points at another API.`,
		Example: `  hookd github setup acme/models --config hookd.yaml --write --env-file /etc/hookd/env
  hookd github setup acme/models --url https://hookd.example.com/webhooks/github
  hookd github setup acme/models --config hookd.yaml --check`,
		Args: cobra.ExactArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.githubSetup(cmd.Context(), args[0], &f)
		}),
	}
	fl := setup.Flags()
	fl.StringVar(&f.config, "config", "", "hookd's configuration file (default $"+configEnv+"): its public_url, and the repository's entry if it has one")
	fl.StringVar(&f.url, "url", "", "the webhook URL (default: public_url + /webhooks/github)")
	fl.BoolVar(&f.check, "check", false, "check the existing hook and change nothing")
	fl.BoolVar(&f.write, "write", false, "add the repositories: entry to --config")
	fl.StringVar(&f.envFile, "env-file", "", "append NAME=secret to this file (created 0600) instead of printing the secret")
	fl.BoolVar(&f.app, "app", false, "authenticate as a GitHub App installation (the entry's app:, or --app-id, --installation-id, --private-key)")
	fl.Int64Var(&f.appID, "app-id", 0, "GitHub App id, with --app")
	fl.Int64Var(&f.installationID, "installation-id", 0, "the App's installation id, with --app")
	fl.StringVar(&f.privateKey, "private-key", "", "the App's private key (PEM file), with --app")
	fl.DurationVar(&f.wait, "wait", 2*time.Minute, "how long to wait for GitHub's ping to reach hookd (0: do not wait)")
	setup.MarkFlagsMutuallyExclusive("check", "write")
	setup.MarkFlagsMutuallyExclusive("check", "env-file")
	gh.AddCommand(setup)
	root.AddCommand(gh)
}

// ownerName is a GitHub repository's owner/name.
var ownerName = regexp.MustCompile(`^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$`)

func (a *app) githubSetup(ctx context.Context, name string, f *setupFlags) error {
	if !ownerName.MatchString(name) {
		return usagef("%q is not OWNER/NAME", name)
	}
	if f.write && f.config == "" && os.Getenv(configEnv) == "" {
		return usagef("--write needs --config (or $%s)", configEnv)
	}
	if err := f.load(name); err != nil {
		return err
	}
	url := f.url
	if url == "" {
		if f.publicURL == "" {
			return usagef("give --url, or --config with public_url: the address GitHub reaches hookd at")
		}
		url = f.publicURL + "/webhooks/github"
	}
	owner, repoName, _ := strings.Cut(name, "/")
	repo, err := f.repo(owner, repoName)
	if err != nil {
		return err
	}
	hooks, err := repo.Hooks(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(hooks, func(h github.Hook) bool { return h.URL == url })
	if f.check {
		return a.checkHook(ctx, repo, name, url, hooks, i)
	}

	secret, known := "", f.configured != nil && f.configured.Secret != ""
	if known {
		secret = string(f.configured.Secret)
	} else if secret, err = newSecret(); err != nil {
		return err
	}
	var hook github.Hook
	switch {
	case i < 0:
		if hook, err = repo.CreateHook(ctx, url, secret); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "✅ Created webhook %d of %s: push events to %s\n", hook.ID, name, url)
	case known && len(hookProblems(hooks[i])) == 0:
		hook = hooks[i]
		fmt.Fprintf(a.stdout, "✅ Found webhook %d of %s: push events to %s\n", hook.ID, name, url)
	default:
		if hook, err = repo.ConfigureHook(ctx, hooks[i].ID, url, secret); err != nil {
			return err
		}
		what := "its secret is the configuration's"
		if !known {
			what = "it has a new secret"
		}
		fmt.Fprintf(a.stdout, "✅ Repaired webhook %d of %s: push events to %s, JSON, active; %s\n", hook.ID, name, url, what)
	}
	if !known {
		if err := a.tellEntry(name, secret, f); err != nil {
			return err
		}
	}
	if f.wait <= 0 {
		return nil
	}
	return a.waitForPing(ctx, repo, hook.ID, url, i < 0, f)
}

// load reads the configuration, if one is named: its public_url and the
// repository's entry.
func (f *setupFlags) load(name string) error {
	if f.config == "" {
		f.config = os.Getenv(configEnv)
	}
	f.secretVar = secretVar(name)
	f.pingBackoff, f.pingEvery = time.Second, 5*time.Second
	if f.config == "" {
		return nil
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return err
	}
	f.publicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	for i := range cfg.Repositories {
		if r := &cfg.Repositories[i]; strings.EqualFold(r.GitHub, name) {
			f.configured = r
		}
	}
	return nil
}

// repo opens the repository with the credentials the flags, the entry or
// the environment give.
func (f *setupFlags) repo(owner, name string) (*github.Repo, error) {
	var opts []github.Option
	switch u := os.Getenv("GITHUB_API_URL"); {
	case u != "":
		opts = append(opts, github.WithBaseURL(u))
	case f.configured != nil && f.configured.APIURL != "":
		opts = append(opts, github.WithBaseURL(f.configured.APIURL))
	}
	entry := f.configured
	switch {
	case f.app:
		if f.appID == 0 && entry != nil && entry.App != nil {
			f.appID, f.installationID, f.privateKey = entry.App.AppID, entry.App.InstallationID, entry.App.PrivateKeyFile
		}
		if f.appID == 0 || f.installationID == 0 || f.privateKey == "" {
			return nil, usagef("--app needs --app-id, --installation-id and --private-key (or an app: in the repository's entry)")
		}
		opts = append(opts, github.WithApp(f.appID, f.installationID, f.privateKey))
	case entry != nil && entry.App != nil:
		opts = append(opts, github.WithApp(entry.App.AppID, entry.App.InstallationID, entry.App.PrivateKeyFile))
	case entry != nil && entry.Token != "":
		opts = append(opts, github.WithToken(string(entry.Token)))
	case os.Getenv("GITHUB_TOKEN") == "" && os.Getenv("GH_TOKEN") == "":
		return nil, errors.New("no GitHub credentials: set $GITHUB_TOKEN (a token that may administer the repository's webhooks), or use --app")
	}
	return github.New(owner, name, opts...)
}

// secretVar is the environment variable the entry reads the secret from:
// acme/models → ACME_MODELS_WEBHOOK_SECRET.
func secretVar(name string) string {
	v := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, name)
	return v + "_WEBHOOK_SECRET"
}

// newSecret is 32 random bytes in hex.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// hookProblems says, one line each, what keeps a hook from serving hookd.
func hookProblems(h github.Hook) []string {
	var out []string
	if !slices.Contains(h.Events, "push") && !slices.Contains(h.Events, "*") {
		out = append(out, fmt.Sprintf("webhook %d is not sent push events (it has %s): tags arrive only through re-listing", h.ID, strings.Join(h.Events, ", ")))
	}
	if h.ContentType != "json" {
		out = append(out, fmt.Sprintf("webhook %d sends %s payloads, not JSON: set its content type to application/json", h.ID, h.ContentType))
	}
	if !h.Active {
		out = append(out, fmt.Sprintf("webhook %d is inactive: GitHub sends it nothing", h.ID))
	}
	if !h.HasSecret {
		out = append(out, fmt.Sprintf("webhook %d has no secret: hookd refuses unsigned deliveries", h.ID))
	}
	return out
}

func (a *app) checkHook(ctx context.Context, repo *github.Repo, name, url string, hooks []github.Hook, i int) error {
	if i < 0 {
		var urls []string
		for _, h := range hooks {
			urls = append(urls, h.URL)
		}
		if len(urls) == 0 {
			urls = []string{"none"}
		}
		fmt.Fprintf(a.stdout, "no webhook of %s sends to %s (its webhooks send to: %s)\n", name, url, strings.Join(urls, ", "))
		return fmt.Errorf("%s has no webhook for hookd: run hookd github setup %s", name, name)
	}
	h := hooks[i]
	problems := hookProblems(h)
	last := "no delivery yet"
	ds, err := repo.HookDeliveries(ctx, h.ID, 1)
	if err != nil {
		return err
	}
	if len(ds) > 0 {
		d := ds[0]
		last = fmt.Sprintf("the last delivery (%s, %s) got %s", d.Event, d.DeliveredAt.UTC().Format(time.RFC3339), answerOf(d))
		if d.StatusCode < 200 || d.StatusCode > 299 {
			problems = append(problems, fmt.Sprintf("webhook %d: %s", h.ID, last))
		}
	}
	for _, p := range problems {
		fmt.Fprintln(a.stdout, p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("webhook %d of %s: %d problem(s)", h.ID, name, len(problems))
	}
	fmt.Fprintf(a.stdout, "✅ Webhook %d of %s sends push events to %s, as JSON, signed; %s\n", h.ID, name, url, last)
	return nil
}

// answerOf words a delivery's outcome: "200" or "no answer: timed out".
func answerOf(d github.HookDelivery) string {
	if d.StatusCode == 0 {
		return "no answer: " + d.Status
	}
	return strconv.Itoa(d.StatusCode)
}

// tellEntry prints (or writes) the repositories: entry and where the
// secret goes.
func (a *app) tellEntry(name, secret string, f *setupFlags) error {
	entry := f.entry(name)
	if f.write {
		if err := addEntry(f.config, entry, f.secretVar, secret); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Added %s to the repositories: of %s\n", name, f.config)
	} else {
		fmt.Fprintf(a.stdout, "Add to hookd's configuration:\n\nrepositories:\n%s\n", entry)
	}
	if f.envFile != "" {
		if err := appendEnv(f.envFile, f.secretVar, secret); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Wrote %s to %s: give hookd that environment\n", f.secretVar, f.envFile)
		return nil
	}
	fmt.Fprintf(a.stdout, "and to hookd's environment (the secret is shown this once):\n\n%s=%s\n", f.secretVar, secret)
	return nil
}

// entry is the repositories: item for name, indented as a list item.
func (f *setupFlags) entry(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - github: %s\n    secret: ${%s}\n", name, f.secretVar)
	if f.app {
		fmt.Fprintf(&b, "    app:\n      app_id: %d\n      installation_id: %d\n      private_key_file: %s\n", f.appID, f.installationID, f.privateKey)
	} else {
		b.WriteString("    token: ${GITHUB_TOKEN}\n")
	}
	if u := os.Getenv("GITHUB_API_URL"); u != "" {
		fmt.Fprintf(&b, "    api_url: %s\n", u)
	}
	return b.String()
}

// addEntry adds entry to the repositories: list of the configuration at
// path, leaving the rest of the file as it is, and checks the result the
// way hookd will read it.
func addEntry(path, entry, secretVar, secret string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	var list *yaml.Node
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		m := doc.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "repositories" {
				list = m.Content[i+1]
			}
		}
	}
	var out []byte
	switch {
	case list == nil:
		out = append(bytes.TrimRight(data, "\n"), []byte("\n\nrepositories:\n"+entry)...)
		if len(data) == 0 {
			out = []byte("repositories:\n" + entry)
		}
	case list.Kind == yaml.SequenceNode && list.Style&yaml.FlowStyle == 0 && len(list.Content) > 0:
		// After the last line of the last item, at the items' indentation.
		last := lastLine(list)
		indent := max(list.Content[0].Column-3, 0)
		lines := strings.SplitAfter(string(data), "\n")
		if last > len(lines) {
			last = len(lines)
		}
		if !strings.HasSuffix(lines[last-1], "\n") {
			lines[last-1] += "\n"
		}
		item := reindent(entry, indent)
		out = []byte(strings.Join(lines[:last], "") + item + strings.Join(lines[last:], ""))
	default:
		return fmt.Errorf("%s: repositories: is not a block list hookd can add to; add this entry by hand:\n%s", path, entry)
	}
	// The secret is in hookd's environment only once it is restarted; it
	// is here so that the check reads the file as hookd will.
	os.Setenv(secretVar, secret)
	if _, err := config.Parse(path, out); err != nil {
		return fmt.Errorf("the configuration with the new entry would not load: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hookd-config-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// lastLine is the last line n's content reaches.
func lastLine(n *yaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, lastLine(c))
	}
	return last
}

// reindent moves a two-space-indented list item to indent spaces.
func reindent(item string, indent int) string {
	lines := strings.SplitAfter(item, "\n")
	pad := strings.Repeat(" ", indent)
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + strings.TrimPrefix(l, "  ")
		}
	}
	return strings.Join(lines, "")
}

// appendEnv adds NAME=value to an environment file readable by its owner
// only.
func appendEnv(path, name, value string) error {
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(fh, "%s=%s\n", name, value)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// waitForPing waits until a ping of the hook got a 2xx from hookd. A hook
// just created was pinged by GitHub; otherwise, and after every failed
// ping, GitHub is asked to ping again, less often as time goes on.
func (a *app) waitForPing(ctx context.Context, repo *github.Repo, hookID int64, url string, created bool, f *setupFlags) error {
	ctx, cancel := context.WithTimeout(ctx, f.wait)
	defer cancel()
	seen := map[int64]bool{}
	if !created {
		ds, err := repo.HookDeliveries(ctx, hookID, 100)
		if err != nil {
			return err
		}
		for _, d := range ds {
			seen[d.ID] = true
		}
		if err := repo.PingHook(ctx, hookID); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.stdout, "Waiting for GitHub's ping to reach hookd at %s ...\n", url)
	var told string
	backoff := f.pingBackoff
	for {
		ds, err := repo.HookDeliveries(ctx, hookID, 100)
		if err != nil && ctx.Err() == nil {
			return err
		}
		pinged := false
		for _, d := range ds {
			if seen[d.ID] || d.Event != "ping" {
				continue
			}
			seen[d.ID] = true
			pinged = true
			if d.StatusCode >= 200 && d.StatusCode <= 299 {
				fmt.Fprintf(a.stdout, "✅ GitHub's ping reached hookd (delivery %s, answered %d); hookd lists it under /api/v1/deliveries?event=ping\n", d.GUID, d.StatusCode)
				return nil
			}
			if answer := answerOf(d); answer != told {
				told = answer
				fmt.Fprintf(a.stdout, "hookd at %s answered the ping with %s: %s\n", url, answer, pingHint(d.StatusCode, f.secretVar))
			}
		}
		select {
		case <-ctx.Done():
			if told == "" {
				told = "no answer"
			}
			return fmt.Errorf("GitHub's ping did not reach hookd within %s (last: %s); check with hookd github setup --check", f.wait, told)
		case <-time.After(backoff):
		}
		if pinged {
			// The last ping failed: ask for another, less often each time.
			if err := repo.PingHook(ctx, hookID); err != nil && ctx.Err() == nil {
				return err
			}
			backoff = min(2*backoff, f.pingEvery)
		}
	}
}

// pingHint says what a failed ping's status usually means.
func pingHint(status int, secretVar string) string {
	switch status {
	case 401, 404:
		// hookd answers a repository it does not know as a bad signature,
		// so that no request can tell which repositories it has.
		return "hookd does not know the repository yet, or its $" + secretVar + " is not the hook's secret; restart it with the repositories: entry and $" + secretVar + " set"
	case 0:
		return "is hookd running, and is the URL right?"
	}
	return "see hookd's log"
}
