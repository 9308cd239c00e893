package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/hookd-dev/hookd/ingest"
)

// kind is one sort of delivery in a mix.
type kind string

const (
	// branch: a GitHub push of commits to main, recorded as ignored.
	branch kind = "branch"
	// gto: a GitHub push of one new GTO tag: exactly one event.
	gto kind = "gto"
	// other: a GitHub push of one new annotated tag that is not a GTO tag:
	// ignored, no event.
	other kind = "other"
	// hook: a post-receive delivery (POST /webhooks/git) of a registration
	// and an assignment of one new artifact, tag objects included.
	hook kind = "hook"
	// redeliver: an earlier acknowledged delivery sent again under its own
	// id, as GitHub's "Redeliver" does: it must change nothing.
	redeliver kind = "redeliver"
)

var kinds = []kind{branch, gto, other, hook, redeliver}

// mix is how many of each kind to send, per hundred deliveries.
type mix map[kind]int

// parseMix reads "branch=60,gto=20,..."; kinds left out are not sent.
func parseMix(s string) (mix, error) {
	m := mix{}
	for part := range strings.SplitSeq(s, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(weight)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("-mix: %q is not KIND=WEIGHT", part)
		}
		if !slices.Contains(kinds, kind(name)) {
			return nil, fmt.Errorf("-mix: unknown kind %q (kinds: branch, gto, other, hook, redeliver)", name)
		}
		m[kind(name)] += n
	}
	total := 0
	for _, n := range m {
		total += n
	}
	if total == 0 {
		return nil, errors.New("-mix: no kind has a positive weight")
	}
	if m[redeliver] == total {
		return nil, errors.New("-mix: redeliveries need something else to redeliver")
	}
	return m, nil
}

func (m mix) String() string {
	var parts []string
	for _, k := range kinds {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	return strings.Join(parts, ",")
}

// schedule lays out count deliveries in the mix's proportions, shuffled
// with seed: the same flags send the same sequence. The first delivery is
// never a redelivery, since there is nothing to redeliver yet.
func (m mix) schedule(count int, seed uint64) []kind {
	total := 0
	for _, n := range m {
		total += n
	}
	out := make([]kind, 0, count)
	for _, k := range kinds {
		out = append(out, slices.Repeat([]kind{k}, count*m[k]/total)...)
	}
	for i := 0; len(out) < count; i++ { // rounding: top up in kind order
		if k := kinds[i%len(kinds)]; m[k] > 0 {
			out = append(out, k)
		}
	}
	r := rand.New(rand.NewPCG(seed, 0x686f6f6b64))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	if i := slices.IndexFunc(out, func(k kind) bool { return k != redeliver }); i > 0 {
		out[0], out[i] = out[i], out[0]
	}
	return out
}

// delivery is one request the tool sends, and what it should lead to.
type delivery struct {
	id     string
	kind   kind   // the original's kind, for a redelivery
	source string // "github" or "git", as hookd's API says
	event  string // GitHub's event name
	body   []byte
	// gto names the GTO tags it announces, each to become exactly one
	// event; nonGTO the tags that must not become any.
	gto, nonGTO []string
	redelivery  bool
	orig        *delivery // a redelivery's original, whose body it sends
}

// ackLine is how an acknowledged delivery is written to -ids.
func (d *delivery) ackLine() string {
	what := string(d.kind)
	if d.redelivery {
		what = "redeliver:" + what
	}
	return strings.Join(append([]string{d.id, d.source, what}, append(slices.Clone(d.gto), d.nonGTO...)...), " ")
}

// readAcked reads back what -ids wrote.
func readAcked(r io.Reader) ([]*delivery, error) {
	var out []*delivery
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[1] != "github" && f[1] != "git" {
			return nil, fmt.Errorf("line %d: %q is not \"ID SOURCE KIND [TAG...]\"", n, sc.Text())
		}
		what, redelivery := strings.CutPrefix(f[2], "redeliver:")
		d := &delivery{id: f[0], source: f[1], kind: kind(what), redelivery: redelivery}
		if d.kind == other {
			d.nonGTO = f[3:]
		} else {
			d.gto = f[3:]
		}
		out = append(out, d)
	}
	return out, sc.Err()
}

// gitHubPush is GitHub's push payload for ref: a branch push carries
// commits (padded to about size bytes, the typical delivery), a tag push
// the tag object and the commit it points to.
func gitHubPush(repo, ref, after, headCommit string, size int) []byte {
	owner, name, _ := strings.Cut(repo, "/")
	person := map[string]any{"name": "Load Tester", "email": "load@example.com", "username": "load"}
	p := map[string]any{
		"ref": ref, "before": strings.Repeat("0", 40), "after": after,
		"created": true, "deleted": false, "forced": false, "base_ref": nil,
		"compare": "https://github.com/" + repo + "/compare/" + after[:12],
		"repository": map[string]any{
			"id": 1, "name": name, "full_name": repo, "private": true, "default_branch": "main",
			"owner":    map[string]any{"login": owner, "name": owner},
			"html_url": "https://github.com/" + repo, "url": "https://github.com/" + repo,
		},
		"pusher":  map[string]any{"name": "load", "email": "load@example.com"},
		"sender":  map[string]any{"login": "load", "id": 1, "type": "User"},
		"commits": []any{},
	}
	if headCommit != "" { // a tag: GitHub names the tagged commit, lists no commits
		p["head_commit"] = map[string]any{"id": headCommit, "tree_id": strings.Repeat("c", 40), "distinct": true,
			"message": "Retrain churn model", "timestamp": "2024-05-01T10:00:00+02:00", "author": person, "committer": person}
		b, _ := json.Marshal(p)
		return b
	}
	p["before"], p["created"] = strings.Repeat("a", 40), false
	var commits []map[string]any
	for i := 0; ; i++ {
		id := fmt.Sprintf("%040x", i+1)
		commits = append(commits, map[string]any{
			"id": id, "tree_id": strings.Repeat("c", 40), "distinct": true,
			"message":   fmt.Sprintf("Retrain churn model on the week %d data\n\nMetrics improved on the holdout set.", i),
			"timestamp": "2024-05-01T10:00:00+02:00", "url": "https://github.com/" + repo + "/commit/" + id,
			"author": person, "committer": person,
			"added": []string{}, "removed": []string{}, "modified": []string{"models/churn.pkl.dvc", "metrics.json"},
		})
		p["commits"], p["head_commit"] = commits, commits[len(commits)-1]
		b, _ := json.Marshal(p)
		if len(b) >= size {
			return b
		}
	}
}

// postReceive is what `hookd hook post-receive` sends for the creation of
// tags.
func postReceive(repository string, tags []createdTag) []byte {
	p := ingest.GitPush{Repository: repository}
	for _, t := range tags {
		obj := t.object
		p.Updates = append(p.Updates, ingest.RefUpdate{Ref: "refs/tags/" + t.name, Old: strings.Repeat("0", 40), New: t.sha, Tag: &obj})
	}
	b, _ := json.Marshal(p)
	return b
}
