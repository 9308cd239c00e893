package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/source/github"
)

// repoFlag adds gto's -r/--repo to a registry command, and --server and
// --token, which send it to a hookd server instead.
func (a *app) repoFlag(cmd *cobra.Command, repo *string) {
	cmd.Flags().StringVarP(repo, "repo", "r", ".", `repository: a local path, "github:owner/name" or a GitHub URL; with --server, owner/name`)
	a.addRemoteFlags(cmd)
}

// isGitHub reports whether a --repo value names a repository on GitHub
// rather than a path: the spellings github.ParseSpec reads.
func isGitHub(spec string) bool {
	for _, p := range []string{"github:", "https://", "http://", "git@"} {
		if strings.HasPrefix(spec, p) {
			return true
		}
	}
	return false
}

// openRepo opens the repository a --repo value names. GITHUB_API_URL (set
// in GitHub Actions, and the way to reach an API-compatible server) points
// the GitHub client at another API base URL.
func openRepo(ctx context.Context, spec string) (source.Source, error) {
	if isGitHub(spec) {
		var opts []github.Option
		if u := os.Getenv("GITHUB_API_URL"); u != "" {
			opts = append(opts, github.WithBaseURL(u))
		}
		return github.Open(spec, opts...)
	}
	return gitdir.Open(ctx, spec)
}

// loadRegistry opens the repository and reads its registry. A registry GTO
// refuses to read comes back with its *registry.StateError, for the
// answers gto gives without reading the state.
func loadRegistry(ctx context.Context, spec string) (source.Source, *registry.Registry, error) {
	oneShot()
	src, err := openRepo(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	reg, err := source.Load(ctx, src)
	if err != nil && !refused(reg, err) {
		return nil, nil, err
	}
	return src, reg, err
}

// refused reports whether err is GTO's refusal of the state of reg, which
// was read nevertheless.
func refused(reg *registry.Registry, err error) bool {
	var se *registry.StateError
	return reg != nil && errors.As(err, &se)
}

// resolveRef turns a git reference into the full sha of its commit, with
// gto's message for one that does not exist.
func resolveRef(ctx context.Context, src source.Source, ref string) (string, error) {
	c, err := src.Commit(ctx, ref)
	if errors.Is(err, source.ErrNotFound) {
		return "", refNotFoundError{ref}
	}
	if err != nil {
		return "", err
	}
	return c.Hash, nil
}

// oneShot tunes the garbage collector for a command that builds the
// registry, answers and exits. Nearly everything it allocates lives until
// the end, so collecting is wasted work: about a fifth of the CPU time of
// `show` on a 10,000-tag registry, for a heap of tens of MB. The memory
// limit brings the collector back for registries far larger than that.
// The daemon, which lives on, never calls it.
func oneShot() {
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(512 << 20)
}

// refNotFoundError is gto's RefNotFound.
type refNotFoundError struct{ ref string }

func (e refNotFoundError) Error() string {
	return fmt.Sprintf("Ref '%s' was not found in the repository history", e.ref)
}
