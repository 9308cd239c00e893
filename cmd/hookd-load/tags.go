package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/ingest"
)

// createdTag is an annotated tag the tool made in a repository.
type createdTag struct {
	name   string
	sha    string // the tag object
	object ingest.TagObject
}

const (
	taggerName  = "Load Tester"
	taggerEmail = "load@example.com"
)

// createTags makes annotated tags, all at the repository's HEAD commit,
// with one `git fast-import` (thousands of `git tag` processes would take
// minutes), and reads back their tag objects. Tags must be made before
// they are announced: hookd reads them from the repository (GitHub's API,
// or the disk for a path: repository) and checks what a delivery claims.
func createTags(ctx context.Context, gitDir string, names []string) (map[string]createdTag, error) {
	out := make(map[string]createdTag, len(names))
	if len(names) == 0 {
		return out, nil
	}
	head, err := gitOut(ctx, gitDir, nil, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		return nil, fmt.Errorf("%s has no commit at HEAD to tag: %w", gitDir, err)
	}
	head = strings.TrimSpace(head)
	when := time.Now().Unix()
	var stream bytes.Buffer
	for _, n := range names {
		msg := "hookd-load " + n + "\n"
		fmt.Fprintf(&stream, "tag %s\nfrom %s\ntagger %s <%s> %d +0000\ndata %d\n%s\n", n, head, taggerName, taggerEmail, when, len(msg), msg)
		out[n] = createdTag{name: n, object: ingest.TagObject{
			Name: n, Target: head, TargetType: "commit", TaggerName: taggerName, TaggerEmail: taggerEmail,
			TaggerDate: time.Unix(when, 0).UTC().Format(time.RFC3339), Message: msg,
		}}
	}
	stream.WriteString("done\n")
	if _, err := gitOut(ctx, gitDir, &stream, "fast-import", "--quiet", "--done"); err != nil {
		return nil, err
	}
	// The tag objects' names, for the post-receive lines and GitHub's
	// "after": rev-parse prints one per ref, in order.
	refs := make([]string, len(names))
	for i, n := range names {
		refs[i] = "refs/tags/" + n
	}
	shas, err := gitOut(ctx, gitDir, nil, append([]string{"rev-parse"}, refs...)...)
	if err != nil {
		return nil, fmt.Errorf("git fast-import did not create the tags in %s: %w", gitDir, err)
	}
	lines := strings.Fields(shas)
	if len(lines) != len(names) {
		return nil, fmt.Errorf("git rev-parse named %d of %d tags in %s", len(lines), len(names), gitDir)
	}
	for i, n := range names {
		t := out[n]
		t.sha = lines[i]
		out[n] = t
	}
	return out, nil
}

func gitOut(ctx context.Context, dir string, stdin *bytes.Buffer, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
