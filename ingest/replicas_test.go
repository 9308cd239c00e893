package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/internal/gittest"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/store"
)

// deliveryIDs numbers deliveries across the replicas of a test.
var deliveryIDs atomic.Int64

// replica is one hookd process: its own store (connection pool, River
// client, holder name) and processor, on a database it shares with others.
// Its source lists the shared git repository, and can be paused after a
// listing.
type replica struct {
	*rig
	pause *pausingSource
}

func newReplica(t *testing.T, url string, repo *gittest.Repo, logger *slog.Logger) *replica {
	t.Helper()
	ctx := context.Background()
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	st, err := store.Open(ctx, url, store.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pause := &pausingSource{}
	sources := func(name string) (source.Source, error) {
		if name != repoName {
			return nil, fmt.Errorf("repository %s not configured", name)
		}
		src, err := gitdir.Open(ctx, repo.Dir)
		return pauseAfter{src, pause}, err
	}
	return &replica{rig: &rig{t: t, ctx: ctx, repo: repo, store: st, proc: ingest.New(st, sources, ingest.WithLogger(logger))}, pause: pause}
}

// process accepts and processes a delivery as the store's job would, from
// any goroutine.
func (r *replica) process(src store.Source, event string, body any) error {
	d, err := r.accept(fmt.Sprintf("replicated-%d", deliveryIDs.Add(1)), src, event, body)
	if err != nil {
		return err
	}
	o, err := r.proc.ProcessDelivery(r.ctx, d)
	if err == nil && o.Status != store.DeliveryProcessed {
		err = fmt.Errorf("delivery %s: %+v", d.ID, o)
	}
	return err
}

// goProcess processes a delivery in a goroutine; the channel gets its error.
func (r *replica) goProcess(src store.Source, event string, body any) <-chan error {
	done := make(chan error, 1)
	go func() { done <- r.process(src, event, body) }()
	return done
}

// pausingSource holds the next listing, once armed, until resumed. With
// latency, every listing takes up to that long to come back after its
// snapshot was taken, as GitHub's does while it fetches tag objects.
type pausingSource struct {
	latency time.Duration

	mu     sync.Mutex
	listed chan struct{} // closed when the armed listing is done
	resume chan struct{}
}

// arm makes the next listing wait, after it has listed, until resume is
// called; listed is closed once it has listed.
func (p *pausingSource) arm() (listed <-chan struct{}, resume func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listed, p.resume = make(chan struct{}), make(chan struct{})
	r := p.resume
	return p.listed, func() { close(r) }
}

type pauseAfter struct {
	source.Source
	p *pausingSource
}

func (s pauseAfter) Tags(ctx context.Context) ([]registry.Tag, error) {
	tags, err := s.Source.Tags(ctx)
	if s.p.latency > 0 {
		time.Sleep(rand.N(s.p.latency))
	}
	s.p.mu.Lock()
	listed, resume := s.p.listed, s.p.resume
	s.p.listed, s.p.resume = nil, nil
	s.p.mu.Unlock()
	if listed != nil {
		close(listed)
		select {
		case <-resume:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return tags, err
}

// signal is a slog handler that closes a channel at the first record whose
// message starts with a prefix.
type signal struct {
	prefix string
	once   *sync.Once
	seen   chan struct{}
}

func newSignal(prefix string) signal {
	return signal{prefix: prefix, once: &sync.Once{}, seen: make(chan struct{})}
}

func (s signal) Enabled(context.Context, slog.Level) bool { return true }
func (s signal) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, s.prefix) {
		s.once.Do(func() { close(s.seen) })
	}
	return nil
}
func (s signal) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s signal) WithGroup(string) slog.Handler      { return s }

func deletePayload(tag string) map[string]any {
	return map[string]any{
		"ref": "refs/tags/" + tag, "before": strings.Repeat("1", 40), "after": strings.Repeat("0", 40),
		"deleted": true, "head_commit": nil, "repository": map[string]any{"full_name": repoName},
	}
}

func wait(t *testing.T, what string, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("%s did not finish within a minute", what)
	}
}

// A listing that replica A took before replica B stored a new tag must not
// make that tag look deleted when A compares it with the store: A holds
// the repository from before its listing until its tags are stored, and B
// waits. Without that, A records a tag_deleted that never happened, the
// tag's first sighting is reset when it is seen again, and its real
// deletion later is never recorded.
func TestAListingOlderThanAnotherReplicasTagsDeletesNothing(t *testing.T) {
	url := pg.Database(t)
	repo := gittest.New(t)
	waiting := newSignal("waiting for a repository another sync holds")
	a := newReplica(t, url, repo, nil)
	b := newReplica(t, url, repo, slog.New(waiting))
	a.reconcile() // the baseline: an empty repository

	c := repo.Commit("model.txt", "one", "2024-01-01T10:00:00+00:00")
	repo.Tag("churn@v1.0.0", c, "2024-01-02T10:00:00+00:00", "register")
	listed, resume := a.pause.arm()
	aDone := a.goProcess(store.SourceGitHub, "push", a.pushPayload("churn@v1.0.0"))
	<-listed // A has listed churn@v1.0.0 only, and is held there

	repo.Tag("churn#prod#1", c, "2024-01-03T10:00:00+00:00", "promote")
	bDone := b.goProcess(store.SourceGitHub, "push", b.pushPayload("churn#prod#1"))
	var bErr error
	select {
	case bErr = <-bDone: // B was not kept out: it listed and stored both tags
		bDone = nil
	case <-waiting.seen: // B waits for A's hold, as it should
	case <-time.After(time.Minute):
		t.Fatal("replica B neither finished nor waited for replica A")
	}
	resume()
	wait(t, "replica A's delivery", aDone)
	if bDone != nil {
		wait(t, "replica B's delivery", bDone)
	} else if bErr != nil {
		t.Fatal(bErr)
	}
	assertEvents(t, a.events(),
		"registration churn v1.0.0  []->[]",
		"assignment churn v1.0.0 prod []->[v1.0.0]")

	// The real deletion, later, is recorded once.
	repo.Git("tag", "-d", "churn#prod#1")
	wait(t, "the deletion", b.goProcess(store.SourceGitHub, "push", deletePayload("churn#prod#1")))
	a.reconcile()
	assertEvents(t, a.events()[2:], "tag_deleted churn v1.0.0 prod [v1.0.0]->[]")
}

// step is one change to the repository: a tag pushed (and announced by
// a delivery), or one deleted.
type step struct {
	tag    string
	commit int // index into the script's commits
	date   string
	delete bool
	// hook: announced by the post-receive hook instead of GitHub. Such a
	// delivery carries its own tag and lists nothing, so it is processed
	// alone: applied before an older tag was stored, it would give other
	// before/after states in one process too.
	hook bool
}

// replicaScript pushes versions and moves stages among them, deletes some
// assignments and brings one back, in tagger-date order.
func replicaScript() []step {
	var s []step
	day := func(d, h int) string { return fmt.Sprintf("2024-01-%02dT%02d:00:00+00:00", d, h) }
	for i := range 6 {
		v := fmt.Sprintf("v1.%d.0", i)
		s = append(s,
			step{tag: "churn@" + v, commit: i, date: day(i+1, 1)},
			step{tag: fmt.Sprintf("churn#dev#%d", 3*i+1), commit: i, date: day(i+1, 2), hook: i%2 == 1},
			step{tag: fmt.Sprintf("churn#prod#%d", 3*i+2), commit: i, date: day(i+1, 3)},
			step{tag: fmt.Sprintf("other@%s", v), commit: i, date: day(i+1, 4), hook: i%3 == 2},
		)
		if i%2 == 1 {
			// An assignment withdrawn: the stage falls back.
			s = append(s, step{tag: fmt.Sprintf("churn#prod#%d", 3*i+2), delete: true})
		}
	}
	return append(s,
		step{tag: "churn#staging#40", commit: 2, date: day(20, 1)},
		step{tag: "churn@v1.0.0", delete: true},
		step{tag: "other#prod#41", commit: 5, date: day(20, 2)},
	)
}

// outcome is what a run of the script left in the store: its events in
// the order recorded, and the tags stored as present and as deleted.
type outcome struct {
	events        []string
	present, gone []string
}

// listingLatency is the most a listing takes to answer in runScript.
const listingLatency = 100 * time.Millisecond

// runScript carries out script on a fresh repository with n replicas on
// one fresh database. Concurrently, each step's delivery is processed in
// the background by replica (step mod n) while the next steps are pushed;
// a deletion waits for the deliveries before it, so that every tag it
// removes was seen first, as in a sequential run, and a hook delivery is
// processed alone. Otherwise each delivery is processed before the next
// step.
func runScript(t *testing.T, n int, concurrent bool) outcome {
	t.Helper()
	url := pg.Database(t)
	repo := gittest.New(t)
	var nodes []*replica
	for range n {
		node := newReplica(t, url, repo, nil)
		node.pause.latency = listingLatency
		nodes = append(nodes, node)
	}
	nodes[0].reconcile() // the baseline
	var commits []string
	for i := range 6 {
		commits = append(commits, repo.Commit("model.txt", fmt.Sprint(i), fmt.Sprintf("2023-12-%02dT10:00:00+00:00", i+1)))
	}
	var pending []<-chan error
	settle := func() {
		t.Helper()
		for i, done := range pending {
			wait(t, fmt.Sprintf("delivery %d", i), done)
		}
		pending = nil
	}
	for i, s := range replicaScript() {
		node := nodes[i%n]
		var src store.Source
		var body map[string]any
		switch {
		case s.delete:
			settle()
			repo.Git("tag", "-d", s.tag)
			src, body = store.SourceGitHub, deletePayload(s.tag)
		case s.hook:
			settle()
			repo.Tag(s.tag, commits[s.commit], s.date, "step "+s.tag)
			wait(t, "hook delivery of "+s.tag, node.goProcess(store.SourceGit, "push", node.hookPayload(s.tag)))
			continue
		default:
			repo.Tag(s.tag, commits[s.commit], s.date, "step "+s.tag)
			src, body = store.SourceGitHub, node.pushPayload(s.tag)
		}
		done := node.goProcess(src, "push", body)
		if !concurrent {
			wait(t, "delivery of "+s.tag, done)
			continue
		}
		pending = append(pending, done)
	}
	settle()
	nodes[n-1].reconcile()

	var out outcome
	for _, e := range nodes[0].events() {
		out.events = append(out.events, fmt.Sprintf("%s %s %s %s %s %v->%v", e.Type, e.TagName, e.Artifact, e.Version, e.Stage, e.ActiveBefore, e.ActiveAfter))
	}
	tags, err := nodes[0].store.Tags(nodes[0].ctx, repoName, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range tags {
		if tg.DeletedAt != nil {
			out.gone = append(out.gone, tg.Name)
		} else {
			out.present = append(out.present, tg.Name+" "+tg.ObjectSHA)
		}
	}
	return out
}

// Deliveries of one repository processed concurrently by three replicas
// on one PostgreSQL database give the events, with their before and after
// states, that one process gives for the same tags, and leave the same
// tags stored.
func TestThreeReplicasDecideWhatOneProcessDecides(t *testing.T) {
	want := runScript(t, 1, false)
	got := runScript(t, 3, true)
	if !slices.Equal(got.events, want.events) {
		t.Errorf("three replicas recorded\n  %s\none process recorded\n  %s", strings.Join(got.events, "\n  "), strings.Join(want.events, "\n  "))
	}
	if !slices.Equal(got.present, want.present) || !slices.Equal(got.gone, want.gone) {
		t.Errorf("stored tags: three replicas %q, deleted %q; one process %q, deleted %q", got.present, got.gone, want.present, want.gone)
	}
	if n := strings.Count(strings.Join(want.events, "\n"), "tag_deleted"); n != 4 {
		t.Errorf("the script's single-process run recorded %d deletions, want 4: the comparison tests too little", n)
	}
}
