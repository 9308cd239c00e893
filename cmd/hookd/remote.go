package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/client"
	"github.com/hookd-dev/hookd/registry"
)

// Remote mode: with --server (or HOOKD_SERVER), the registry commands ask
// a hookd server's API instead of reading and writing tags themselves. The
// server checks the token's scopes, applies the repository's promotion
// order, creates the tags and records who asked.
const (
	serverEnv = "HOOKD_SERVER"
	tokenEnv  = "HOOKD_TOKEN"
)

// remoteFlags are the global --server and --token.
type remoteFlags struct {
	server, token string
}

func (a *app) addRemoteFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&a.remote.server, "server", "", "hookd server to send registry commands to, e.g. https://hookd.example.com (default $"+serverEnv+")")
	f.StringVar(&a.remote.token, "token", "", "API token for --server; prefer $"+tokenEnv+": a command line is visible to other users")
}

// localOnlyFlags are write flags that act on a local clone, which a server
// does not have.
var localOnlyFlags = []string{"push", "delete", "author", "author-email"}

// apiRepo is a repository as the API calls it: owner/name.
var apiRepo = regexp.MustCompile(`^[^/\s]+/[^/\s]+$`)

// server returns the hookd server cmd is to ask, or nil in local mode. It
// is a usage error to give the server a flag it cannot honour, or no
// --repo.
func (a *app) server(cmd *cobra.Command, repo string) (*server, error) {
	base := a.remote.server
	if !cmd.Flags().Changed("server") {
		base = os.Getenv(serverEnv)
	}
	if base == "" {
		return nil, nil
	}
	for _, name := range localOnlyFlags {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
			return nil, usagef("--%s applies to a local repository only; with --server the server creates the tags", name)
		}
	}
	if _, err := client.New(base); err != nil {
		return nil, usagef("--server %q: want the server's http:// or https:// URL", base)
	}
	if !cmd.Flags().Changed("repo") {
		return nil, usagef("--server needs -r/--repo owner/name, the repository as the server calls it")
	}
	name := strings.TrimPrefix(repo, "github:")
	if !apiRepo.MatchString(name) {
		return nil, usagef("--repo %q: with --server, name the repository owner/name (or github:owner/name)", repo)
	}
	token := a.remote.token
	if cmd.Flags().Changed("token") {
		fmt.Fprintf(a.stderr, "warning: a token given with --token is visible to other users of this machine; prefer $%s\n", tokenEnv)
	} else {
		token = os.Getenv(tokenEnv)
	}
	c, err := client.New(base, client.WithToken(token), client.WithUserAgent("hookd-cli"))
	if err != nil {
		return nil, err
	}
	owner, repoName, _ := strings.Cut(name, "/")
	return &server{repo: c.Repository(owner, repoName), token: token}, nil
}

// server is a hookd server's API for one repository, through package
// client.
type server struct {
	repo  *client.Repository
	token string
}

// explain adds to the server's refusal what the command line can do
// about it; the error stays a *client.Error.
func (s *server) explain(err error) error {
	var ce *client.Error
	if !errors.As(err, &ce) {
		return err
	}
	var hint string
	if ce.Location != "" {
		hint = "; use --server " + ce.Location
	}
	if ce.StatusCode == http.StatusUnauthorized && ce.Code != "" && s.token == "" {
		hint = " (no token given: set $" + tokenEnv + ")"
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w%s", err, hint)
}

// write asks the server for one write and prints what gto prints for the
// tags it created: the same lines local mode prints for a repository whose
// tags are created remotely, with nothing to push.
func (s *server) write(ctx context.Context, stdout io.Writer, op access.Operation, req change.Request) error {
	do := map[access.Operation]func(context.Context, client.WriteRequest) (*client.WriteResult, error){
		access.Register: s.repo.Register, access.Assign: s.repo.Assign, access.Unassign: s.repo.Unassign,
		access.Deregister: s.repo.Deregister, access.Deprecate: s.repo.Deprecate,
	}[op]
	res, err := do(ctx, writeRequest(req))
	// An answer may report tags created before a later step failed; the
	// user must know they exist.
	var ce *client.Error
	switch {
	case err == nil:
		for _, line := range res.Output {
			fmt.Fprintln(stdout, line)
		}
	case errors.As(err, &ce):
		for _, line := range ce.Output {
			fmt.Fprintln(stdout, line)
		}
	default:
		// Without the server's answer, whether the tags were created is
		// not known: running the write again could create them twice.
		return fmt.Errorf("%w; the write may have been carried out: check with hookd history %s before running it again", err, req.Artifact)
	}
	return s.explain(err)
}

// writeRequest is change's request as the API takes it.
func writeRequest(r change.Request) client.WriteRequest {
	w := client.WriteRequest{Artifact: r.Artifact, Version: r.Version, Ref: r.Ref, Stage: r.Stage, NameVersion: r.NameVersion,
		Bump: r.Bump, Message: r.Message, Force: r.Force, SkipRegistration: r.SkipRegistration}
	if r.Simple != change.Simple(registry.SimpleAuto) {
		w.Simple = r.Simple.String()
	}
	return w
}

// remoteReader answers the read commands from a hookd server: the same
// JSON `gto ... --json` prints, which --json prints as received and the
// tables are drawn from.
type remoteReader struct{ s *server }

// read makes one read through fn, keeping the server's JSON for --json.
func read[T any](s *server, fn func(keep client.CallOption) (T, error)) (answer[T], error) {
	var raw []byte
	v, err := fn(client.KeepBody(&raw))
	if err != nil {
		return answer[T]{}, s.explain(err)
	}
	return answer[T]{data: v, raw: raw}, nil
}

func (r remoteReader) show(ctx context.Context, opts registry.ShowOptions) (answer[registry.Overview], error) {
	return read(r.s, func(keep client.CallOption) (registry.Overview, error) { return r.s.repo.Show(ctx, opts, keep) })
}

func (r remoteReader) showArtifact(ctx context.Context, name, ref string, opts registry.ShowOptions) (answer[[]registry.VersionState], error) {
	return read(r.s, func(keep client.CallOption) ([]registry.VersionState, error) {
		return r.s.repo.ShowArtifact(ctx, name, ref, opts, keep)
	})
}

// registered asks the overview, which says for every artifact, deprecated
// ones included, whether it is registered.
func (r remoteReader) registered(ctx context.Context, artifact string) (bool, error) {
	an, err := r.show(ctx, registry.ShowOptions{Deprecated: true, AssignmentsPerVersion: -1, VersionsPerStage: 1})
	if err != nil {
		return false, err
	}
	s, ok := an.data.Get(artifact)
	return !ok || s.Registered, nil
}

func (r remoteReader) history(ctx context.Context, name string, ascending bool) (answer[[]registry.HistoryEntry], error) {
	return read(r.s, func(keep client.CallOption) ([]registry.HistoryEntry, error) {
		if name != "" {
			return r.s.repo.ArtifactHistory(ctx, name, ascending, keep)
		}
		return r.s.repo.History(ctx, ascending, keep)
	})
}

func (r remoteReader) stages(ctx context.Context, allowed, used bool) (answer[[]string], error) {
	return read(r.s, func(keep client.CallOption) ([]string, error) { return r.s.repo.Stages(ctx, allowed, used, keep) })
}

func (r remoteReader) checkRef(ctx context.Context, tag string) (answer[[]registry.EventState], error) {
	return read(r.s, func(keep client.CallOption) ([]registry.EventState, error) { return r.s.repo.CheckRef(ctx, tag, keep) })
}

// writeRawJSON prints JSON received from a server as writeJSON prints the
// same value: keys in the order received, indented by four spaces, strings
// escaped as writeJSON escapes them (whatever escaping the server chose).
func writeRawJSON(w io.Writer, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var compact bytes.Buffer
	type level struct {
		object bool
		n      int // tokens written inside it
	}
	var stack []level
	str := json.NewEncoder(&compact)
	str.SetEscapeHTML(false)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("the server's JSON: %v", err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			compact.WriteByte(byte(d))
			continue
		}
		if n := len(stack); n > 0 {
			top := &stack[n-1]
			switch {
			case top.object && top.n%2 == 1:
				compact.WriteByte(':')
			case top.n > 0:
				compact.WriteByte(',')
			}
			top.n++
		}
		switch t := tok.(type) {
		case json.Delim:
			compact.WriteByte(byte(t))
			stack = append(stack, level{object: t == '{'})
		case string:
			if err := str.Encode(t); err != nil {
				return err
			}
			compact.Truncate(compact.Len() - 1) // Encode's newline
		case json.Number:
			compact.WriteString(t.String())
		case bool:
			compact.WriteString(strconv.FormatBool(t))
		case nil:
			compact.WriteString("null")
		}
	}
	return registry.IndentJSON(w, compact.Bytes())
}
