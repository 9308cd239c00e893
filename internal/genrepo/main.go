// Command genrepo builds a git repository that looks like a busy GTO model
// registry: many artifacts, each with a history of registrations, stage
// assignments, unassignments, deregistrations and the odd deprecation, all
// as annotated tags. It exists to measure hookd on a registry of realistic
// size, e.g.
//
//	go run ./internal/genrepo -tags 10000 -artifacts 50 /tmp/registry
//
// Everything goes through one `git fast-import` stream, because creating
// ten thousand tags with ten thousand `git tag` processes takes minutes.
// The output is deterministic for a given -seed.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/tagparse"
)

func main() {
	tags := flag.Int("tags", 10000, "number of annotated GTO tags to create")
	artifacts := flag.Int("artifacts", 50, "number of artifacts")
	seed := flag.Uint64("seed", 1, "random seed; the same seed gives the same repository")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: genrepo [-tags N] [-artifacts N] [-seed N] DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *tags < 1 || *artifacts < 1 {
		flag.Usage()
		os.Exit(2)
	}
	start := time.Now()
	if err := generate(flag.Arg(0), *tags, *artifacts, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "genrepo:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genrepo: %d tags over %d artifacts in %s (%s)\n",
		*tags, *artifacts, flag.Arg(0), time.Since(start).Round(time.Millisecond))
}

// generate creates dir as a new repository holding the generated history.
func generate(dir string, nTags, nArtifacts int, seed uint64) error {
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%s already exists", dir)
	}
	if err := git("", "init", "-q", "-b", "main", dir); err != nil {
		return err
	}
	h := plan(nTags, nArtifacts, seed)

	cmd := exec.Command("git", "fast-import", "--quiet", "--done")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	h.write(w)
	if err := w.Flush(); err != nil {
		return err
	}
	if err := stdin.Close(); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git fast-import: %w", err)
	}
	// A cloned or garbage-collected repository keeps its refs packed; so
	// does this one, so that reads are measured as users see them.
	if err := git(dir, "pack-refs", "--all"); err != nil {
		return err
	}
	return git(dir, "reset", "-q", "--hard", "main")
}

func git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// history is what the generator decided to write: commits first, then tags
// pointing at them.
type history struct {
	artifacts []string
	commits   int // commit k (1-based mark) changes the model of artifact (k-1) % len(artifacts)
	tags      []tag
}

type tag struct {
	name, message string
	commit        int // fast-import mark
	at            time.Time
}

var stages = []string{"dev", "staging", "prod"}

// Commits are an hour apart from base; tags start after the last commit and
// are a minute apart, so that ordering by time is unambiguous.
var base = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	author      = "Registry Bot"
	authorEmail = "bot@example.com"
)

// artifact is the generator's view of one artifact's registry state, enough
// to keep the generated events plausible (assign only registered versions,
// unassign only assigned stages, never reuse a commit).
type artifact struct {
	name     string
	counter  int
	versions []int            // commit marks of active registered versions, oldest first
	names    map[int]string   // commit mark → version
	inStage  map[string][]int // stage → commit marks assigned, most recent last
	next     int              // minor version of the next registration
	commitNo int              // how many commits this artifact has used
}

func plan(nTags, nArtifacts int, seed uint64) *history {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h := &history{}
	arts := make([]*artifact, nArtifacts)
	for i := range arts {
		name := fmt.Sprintf("model-%02d", i)
		if i%10 == 9 {
			// Some artifacts live in a monorepo folder ("dir:name").
			name = fmt.Sprintf("models/team-%d:model-%02d", i/10, i)
		}
		arts[i] = &artifact{name: name, names: map[int]string{}, inStage: map[string][]int{}}
		h.artifacts = append(h.artifacts, name)
	}
	// Two in every 25 artifacts end deprecated.
	deprecated := func(i int) bool { return i%25 == 24 || i%25 == 12 }

	for i := 0; i < nTags; i++ {
		ai := i % nArtifacts
		a := arts[ai]
		last := i+nArtifacts >= nTags // this artifact's final tag
		var t tag
		switch r := rng.Float64(); {
		case last && deprecated(ai) && len(a.versions) > 0:
			t = a.deprecate()
		case len(a.versions) == 0 || r < 0.25:
			a.commitNo++
			mark := 1 + ai + nArtifacts*(a.commitNo-1)
			t = a.register(mark)
			h.commits = max(h.commits, mark)
		case r < 0.85:
			t = a.assign(rng)
		case r < 0.93:
			t = a.unassign(rng)
			if t.name == "" {
				t = a.assign(rng)
			}
		default:
			t = a.deregister(rng)
			if t.name == "" {
				t = a.assign(rng)
			}
		}
		h.tags = append(h.tags, t)
	}
	tagsStart := base.Add(time.Duration(h.commits+1) * time.Hour)
	for i := range h.tags {
		h.tags[i].at = tagsStart.Add(time.Duration(i) * time.Minute)
	}
	return h
}

func (a *artifact) register(mark int) tag {
	v := fmt.Sprintf("v1.%d.0", a.next)
	a.next++
	a.versions = append(a.versions, mark)
	a.names[mark] = v
	return tag{
		name:    tagparse.Format(tagparse.Tag{Artifact: a.name, Action: tagparse.Register, Version: v}),
		message: fmt.Sprintf("Registering artifact %s version %s", a.name, v),
		commit:  mark,
	}
}

// pick prefers recent versions, as real promotion flows do.
func (a *artifact) pick(rng *rand.Rand) int {
	n := len(a.versions)
	back := min(n-1, int(rng.ExpFloat64()*1.5))
	return a.versions[n-1-back]
}

func (a *artifact) assign(rng *rand.Rand) tag {
	mark := a.pick(rng)
	stage := stages[rng.IntN(len(stages))]
	a.counter++
	a.inStage[stage] = append(a.inStage[stage], mark)
	return tag{
		name:    tagparse.Format(tagparse.Tag{Artifact: a.name, Action: tagparse.Assign, Stage: stage, Counter: a.counter}),
		message: fmt.Sprintf("Assigning stage %s to artifact %s version %s", stage, a.name, a.names[mark]),
		commit:  mark,
	}
}

// unassign removes the most recent assignment of a random stage; the zero
// tag means no stage is assigned.
func (a *artifact) unassign(rng *rand.Rand) tag {
	stage := stages[rng.IntN(len(stages))]
	marks := a.inStage[stage]
	if len(marks) == 0 {
		return tag{}
	}
	mark := marks[len(marks)-1]
	a.inStage[stage] = marks[:len(marks)-1]
	a.counter++
	return tag{
		name:    tagparse.Format(tagparse.Tag{Artifact: a.name, Action: tagparse.Unassign, Stage: stage, Counter: a.counter}),
		message: fmt.Sprintf("Unassigning stage '%s' to artifact '%s' version '%s'", stage, a.name, a.names[mark]),
		commit:  mark,
	}
}

// deregister drops a version that is not the latest; the zero tag means
// there is none.
func (a *artifact) deregister(rng *rand.Rand) tag {
	if len(a.versions) < 2 {
		return tag{}
	}
	i := rng.IntN(len(a.versions) - 1)
	mark := a.versions[i]
	a.versions = append(a.versions[:i], a.versions[i+1:]...)
	for s, marks := range a.inStage {
		a.inStage[s] = without(marks, mark)
	}
	a.counter++
	v := a.names[mark]
	return tag{
		name:    tagparse.Format(tagparse.Tag{Artifact: a.name, Action: tagparse.Deregister, Version: v, Counter: a.counter}),
		message: fmt.Sprintf("Deregistering artifact %s version %s", a.name, v),
		commit:  mark,
	}
}

func (a *artifact) deprecate() tag {
	a.counter++
	return tag{
		name:    tagparse.Format(tagparse.Tag{Artifact: a.name, Action: tagparse.Deprecate, Counter: a.counter}),
		message: fmt.Sprintf("Deprecating artifact '%s'", a.name),
		commit:  a.versions[0],
	}
}

func without(marks []int, drop int) []int {
	out := marks[:0]
	for _, m := range marks {
		if m != drop {
			out = append(out, m)
		}
	}
	return out
}

// write emits the fast-import stream: a linear history on main in which
// commit k updates the model file of one artifact, an artifacts.yaml at
// the tip that annotates every artifact, then every tag.
func (h *history) write(w io.Writer) {
	for k := 1; k <= h.commits; k++ {
		name := h.artifacts[(k-1)%len(h.artifacts)]
		at := base.Add(time.Duration(k) * time.Hour)
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\n", k)
		fmt.Fprintf(w, "author %s <%s> %d +0000\n", author, authorEmail, at.Unix())
		fmt.Fprintf(w, "committer %s <%s> %d +0000\n", author, authorEmail, at.Unix())
		data(w, fmt.Sprintf("Train %s (run %d)\n", name, k))
		if k > 1 {
			fmt.Fprintf(w, "from :%d\n", k-1)
		}
		fmt.Fprintf(w, "M 100644 inline %s\n", modelPath(name))
		data(w, fmt.Sprintf("weights of %s, run %d\n", name, k))
		if k == h.commits {
			fmt.Fprintf(w, "M 100644 inline artifacts.yaml\n")
			data(w, h.index())
		}
	}
	for _, t := range h.tags {
		fmt.Fprintf(w, "tag %s\nfrom :%d\n", t.name, t.commit)
		fmt.Fprintf(w, "tagger %s <%s> %d +0000\n", author, authorEmail, t.at.Unix())
		data(w, t.message)
	}
	fmt.Fprintln(w, "done")
}

// index is GTO's artifacts.yaml for the generated artifacts at the root
// (those in a monorepo folder would be annotated in that folder's own file).
func (h *history) index() string {
	var b strings.Builder
	for _, name := range h.artifacts {
		if strings.Contains(name, ":") {
			continue
		}
		fmt.Fprintf(&b, "%s:\n  type: model\n  path: %s\n", name, modelPath(name))
	}
	return b.String()
}

func modelPath(name string) string {
	return "models/" + strings.ReplaceAll(name, ":", "/") + ".pkl"
}

func data(w io.Writer, s string) {
	fmt.Fprintf(w, "data %d\n%s\n", len(s), s)
}
