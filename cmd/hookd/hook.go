package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd-dev/hookd/config"
	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/source/gitdir"
)

// hookFlags configure the post-receive hook; each falls back to an
// environment variable, then to git config in the repository (hookd.url,
// hookd.secret, hookd.repository), so one hook script fits every repository.
type hookFlags struct {
	url, secretFile, repository string
	timeout                     time.Duration
}

const defaultHookURL = "http://" + config.DefaultListen

func (a *app) addHook(root *cobra.Command) {
	hook := &cobra.Command{
		Use:   "hook",
		Short: "Git server-side hooks that report tag pushes to hookd",
	}
	var f hookFlags
	pr := &cobra.Command{
		Use:   "post-receive",
		Short: "Send a push's tag updates to hookd (run as a bare repository's post-receive hook)",
		Long: `Reads git's "old new ref" lines on stdin, reads the pushed tag objects from
the repository and sends them, signed with the repository's secret, to
hookd's POST /webhooks/git.

Install it in a bare repository (plain git over ssh, Gitea, GitLab CE):

  printf '#!/bin/sh\nexec hookd hook post-receive\n' > hooks/post-receive
  chmod +x hooks/post-receive
  git config hookd.url http://hookd.internal:8080
  git config hookd.secret "$SECRET"     # or HOOKD_SECRET / --secret-file

The push has already happened when the hook runs: if hookd is down or
refuses the delivery, the hook says so on the pusher's terminal and exits 0;
hookd's reconciler finds the tags later.`,
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			postReceive(cmd.Context(), f, cmd.InOrStdin(), a.stderr)
			return nil
		}),
	}
	fl := pr.Flags()
	fl.StringVar(&f.url, "url", "", "hookd's base URL (default $HOOKD_URL, git config hookd.url, else "+defaultHookURL+")")
	fl.StringVar(&f.secretFile, "secret-file", "", "file holding the repository's secret (default $HOOKD_SECRET, else git config hookd.secret)")
	fl.StringVar(&f.repository, "repository", "", "the repository's name (its as:) or path in hookd's config (default $HOOKD_REPOSITORY, git config hookd.repository, else this repository's absolute path)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for hookd")
	hook.AddCommand(pr)
	root.AddCommand(hook)
}

// postReceive never fails the hook: every problem is reported on stderr,
// which git shows the pusher as "remote: ..." lines.
func postReceive(ctx context.Context, f hookFlags, stdin io.Reader, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	n, err := sendTagUpdates(ctx, f, stdin)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "hookd: could not report the pushed tags: %v\n"+
			"hookd: the push itself succeeded; hookd will find the tags at its next reconciliation.\n", err)
	case n > 0:
		fmt.Fprintf(stderr, "hookd: reported %d tag update(s)\n", n)
	}
}

// sendTagUpdates returns how many tag updates it delivered.
func sendTagUpdates(ctx context.Context, f hookFlags, stdin io.Reader) (int, error) {
	updates, err := readRefUpdates(stdin)
	if err != nil || len(updates) == 0 {
		return 0, err
	}
	settings, err := hookSettings(ctx, f)
	if err != nil {
		return 0, err
	}
	if err := readTagObjects(ctx, updates); err != nil {
		return 0, err
	}
	body, err := json.Marshal(ingest.GitPush{Repository: settings.repository, Updates: updates})
	if err != nil {
		return 0, err
	}
	endpoint := strings.TrimSuffix(settings.url, "/") + "/webhooks/git"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(handlers.GitDeliveryHeader, newDeliveryID())
	req.Header.Set(handlers.GitSignatureHeader, handlers.Sign(settings.secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("hookd at %s is unreachable: %w", settings.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return len(updates), nil
	}
	var e struct{ Message string }
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
	return 0, fmt.Errorf("hookd at %s answered %s: %s", settings.url, resp.Status, e.Message)
}

// readRefUpdates parses the hook's input, keeping tag refs only: branch
// updates carry no GTO event.
func readRefUpdates(r io.Reader) ([]ingest.RefUpdate, error) {
	all, err := gitdir.ReadRefUpdates(r)
	if err != nil {
		return nil, err
	}
	var out []ingest.RefUpdate
	for _, u := range all {
		if strings.HasPrefix(u.Ref, "refs/tags/") {
			out = append(out, ingest.RefUpdate{Old: u.Old, New: u.New, Ref: u.Ref})
		}
	}
	return out, nil
}

type hookConfig struct{ url, secret, repository string }

// hookSettings resolves each setting: flag, environment, git config, default.
func hookSettings(ctx context.Context, f hookFlags) (hookConfig, error) {
	gitCfg, err := gitConfig(ctx)
	if err != nil {
		return hookConfig{}, err
	}
	first := func(vs ...string) string {
		for _, v := range vs {
			if v != "" {
				return v
			}
		}
		return ""
	}
	s := hookConfig{
		url:        first(f.url, os.Getenv("HOOKD_URL"), gitCfg["hookd.url"], defaultHookURL),
		secret:     first(os.Getenv("HOOKD_SECRET"), gitCfg["hookd.secret"]),
		repository: first(f.repository, os.Getenv("HOOKD_REPOSITORY"), gitCfg["hookd.repository"]),
	}
	if f.secretFile != "" {
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			return s, err
		}
		s.secret = strings.TrimSpace(string(b))
	}
	if s.secret == "" {
		return s, errors.New("no secret configured: set git config hookd.secret, HOOKD_SECRET or --secret-file")
	}
	if s.repository == "" {
		out, err := git(ctx, nil, "rev-parse", "--absolute-git-dir")
		if err != nil {
			return s, err
		}
		s.repository = strings.TrimSpace(string(out))
	}
	return s, nil
}

// gitConfig reads every hookd.* setting in one git invocation.
func gitConfig(ctx context.Context) (map[string]string, error) {
	out, err := git(ctx, nil, "config", "--null", "--get-regexp", `^hookd\.`)
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 { // no hookd.* keys
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, entry := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(entry, "\n"); ok {
			m[k] = v
		}
	}
	return m, nil
}

// readTagObjects fills Tag for every update whose new object is an
// annotated tag, reading all of them with one `git cat-file --batch`.
func readTagObjects(ctx context.Context, updates []ingest.RefUpdate) error {
	var in bytes.Buffer
	var want []int
	for i, u := range updates {
		if strings.Trim(u.New, "0") != "" { // not a deletion
			in.WriteString(u.New + "\n")
			want = append(want, i)
		}
	}
	if len(want) == 0 {
		return nil
	}
	out, err := git(ctx, &in, "cat-file", "--batch")
	if err != nil {
		return err
	}
	r := bufio.NewReader(bytes.NewReader(out))
	for _, i := range want {
		header, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("git cat-file: %w", err)
		}
		fields := strings.Fields(header) // "<sha> <type> <size>", or "<sha> missing"
		if len(fields) != 3 {
			continue
		}
		size, err := strconv.Atoi(fields[2])
		if err != nil {
			return fmt.Errorf("git cat-file: bad header %q", header)
		}
		content := make([]byte, size+1) // and the newline after it
		if _, err := io.ReadFull(r, content); err != nil {
			return fmt.Errorf("git cat-file: %w", err)
		}
		if fields[1] == "tag" {
			updates[i].Tag = tagObject(content[:size])
		}
	}
	return nil
}

// tagObject is what the hook sends of a tag object; the date in RFC 3339,
// with the tagger's offset.
func tagObject(raw []byte) *ingest.TagObject {
	t := gitdir.ParseTagObject(raw)
	o := &ingest.TagObject{Name: t.Name, Target: t.Object, TargetType: t.Type,
		TaggerName: t.Tagger.Name, TaggerEmail: t.Tagger.Email, Message: t.Message}
	if !t.Date.IsZero() {
		o.TaggerDate = t.Date.Format(time.RFC3339)
	}
	return o
}

// git runs the git CLI in the hook's repository (git sets GIT_DIR for hooks).
func git(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func newDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "git-" + hex.EncodeToString(b[:])
}
