package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/config"
	"github.com/hookd-dev/hookd/deploy"
	"github.com/hookd-dev/hookd/ingest"
	"github.com/hookd-dev/hookd/registry"
	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/gitdir"
	"github.com/hookd-dev/hookd/source/github"
	"github.com/hookd-dev/hookd/store"
)

// daemon is what `hookd serve` runs besides HTTP: the store's job workers
// (ingest turning deliveries and listings into events, deploy's engine
// executing runs) and the reconciler's schedule. Its repositories and
// engine are swapped whole on SIGHUP.
type daemon struct {
	logger *slog.Logger
	store  *store.Store
	proc   *ingest.Processor

	repos  atomic.Pointer[repositories]
	engine *deploy.Engine // one for the daemon's life; reloads swap its actions

	mu        sync.Mutex
	schedule  context.CancelFunc // stops the reconciler's schedule
	scheduled sync.WaitGroup
}

func newDaemon(logger *slog.Logger, st *store.Store, cfg *config.Config, reg prometheus.Registerer) (*daemon, error) {
	d := &daemon{logger: logger, store: st}
	repos, err := openRepositories(cfg, nil)
	if err != nil {
		return nil, err
	}
	d.repos.Store(repos)
	d.engine, err = deploy.NewEngine(cfg.Actions, st, deploy.Options{
		GitHub:    func(name string) (deploy.GitHubRepo, error) { return d.repos.Load().gitHub(name) },
		PublicURL: cfg.BaseURL(),
		Annotations: func(ctx context.Context, e *deploy.Event) (deploy.Annotations, error) {
			return d.repos.Load().annotations(ctx, e)
		},
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("deploy actions: %w", err)
	}
	d.proc = ingest.New(st, d.source, ingest.WithLogger(logger), ingest.WithDispatch(d.dispatch), ingest.WithMetrics(reg),
		ingest.WithRepositoryNames(func(reported string) string { return d.repos.Load().name(reported) }))
	reg.MustRegister(daemonCollector{d})
	return d, nil
}

// apply swaps in the repositories and deploy actions of cfg; on error
// nothing changes. public_url changes take effect at the next start.
func (d *daemon) apply(cfg *config.Config) error {
	repos, err := openRepositories(cfg, d.repos.Load())
	if err != nil {
		return err
	}
	if err := d.engine.SetActions(cfg.Actions); err != nil {
		return fmt.Errorf("deploy actions: %w", err)
	}
	d.repos.Store(repos)
	return nil
}

func (d *daemon) source(repository string) (source.Source, error) {
	return d.repos.Load().source(repository)
}

// changes is the service behind the companion API's writes and chat
// commands: it writes through the configured repositories of the moment
// and records the events at once through the reconciler's path.
func (d *daemon) changes() *change.Service {
	return &change.Service{
		Repository: func(name string) (change.Repository, error) { return d.repos.Load().forChange(name) },
		Store:      d.store,
		Settle:     d.proc.Reconcile,
		Logger:     d.logger,
	}
}

func (d *daemon) dispatch(ctx context.Context, evs []store.Event) error {
	return d.engine.DispatchAll(ctx, evs)
}

func (d *daemon) runAction(ctx context.Context, runID int64) error {
	return d.engine.Execute(ctx, runID)
}

// start starts the job workers and the reconciler's schedule.
func (d *daemon) start(ctx context.Context, cfg *config.Config) error {
	if err := d.renamePathRecords(ctx, cfg); err != nil {
		return err
	}
	// Jobs must outlive ctx: shutdown stops them through StopWorkers, which
	// lets running deploys finish within the shutdown deadline.
	// Deliveries and listings wait out GitHub's rate limits in the queue,
	// where each delivery shows why it waits and until when, rather than
	// in a call that holds a worker and shows nothing.
	err := d.store.StartWorkers(context.WithoutCancel(ctx), store.Workers{
		ProcessDelivery: func(ctx context.Context, dl store.Delivery) (store.Outcome, error) {
			return d.proc.ProcessDelivery(source.WithoutWaiting(ctx), dl)
		},
		ReconcileRepository: func(ctx context.Context, repository string) error {
			return d.proc.Reconcile(source.WithoutWaiting(ctx), repository)
		},
		RunAction:      d.runAction,
		RunTimeout:     d.engine.RunTimeout,
		RunConcurrency: cfg.MaxConcurrentRuns,
	})
	if err != nil {
		return err
	}
	d.reschedule(ctx, cfg)
	return nil
}

// renamePathRecords gives the records that older versions of hookd stored
// under a path repository's path the repository's name, before any worker
// records more under it.
func (d *daemon) renamePathRecords(ctx context.Context, cfg *config.Config) error {
	for _, r := range cfg.Repositories {
		if r.Path == "" || r.Path == r.Name() {
			continue
		}
		n, err := d.store.RenameRepository(ctx, r.Path, r.Name())
		if err != nil {
			return fmt.Errorf("repository %s: rename the records stored under its path: %w", r.Name(), err)
		}
		if n > 0 {
			d.logger.Info("records stored under a repository's path now carry its name", "repository", r.Name(), "path", r.Path, "records", n)
		}
	}
	return nil
}

// reload applies a new configuration; on error the running one stays.
func (d *daemon) reload(ctx context.Context, cfg *config.Config) error {
	if err := d.apply(cfg); err != nil {
		return err
	}
	d.reschedule(ctx, cfg)
	return nil
}

// reschedule (re)starts the reconciler's schedule: every repository is
// reconciled at once (that is what makes an outage harmless) and then at
// its interval. The job is unique per repository, so replicas sharing a
// database do not pile up reconciliations.
func (d *daemon) reschedule(ctx context.Context, cfg *config.Config) {
	d.stopSchedule()
	ctx, cancel := context.WithCancel(ctx)
	d.mu.Lock()
	d.schedule = cancel
	d.mu.Unlock()
	for _, r := range cfg.Repositories {
		name, every := r.Name(), r.ReconcileInterval.Std()
		d.scheduled.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				if err := d.store.EnqueueReconcile(ctx, name); err != nil && ctx.Err() == nil {
					d.logger.Error("could not schedule a reconciliation; will try at the next interval",
						"repository", name, "error", err)
				}
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
		})
	}
}

// stopSchedule stops the reconciler's schedule and waits for it.
func (d *daemon) stopSchedule() {
	d.mu.Lock()
	cancel := d.schedule
	d.schedule = nil
	d.mu.Unlock()
	if cancel != nil {
		cancel()
		d.scheduled.Wait()
	}
}

// repositories are the configured repositories by name, with what reads
// them: a GitHub client, or a local repository opened on first use.
type repositories struct {
	byName map[string]*repository
	byPath map[string]*repository // path repositories
}

type repository struct {
	cfg    config.Repository
	github *github.Repo      // GitHub repositories
	appKey [sha256.Size]byte // the GitHub App's private key's sum, if any

	mu    sync.Mutex
	local *gitdir.Repo // path repositories, once opened
}

// openRepositories makes the repositories of cfg. A repository that was
// in running with the same connection settings keeps its client, and with
// it what the client has cached: ETags, whose 304s GitHub does not count
// against the rate limit, and the tag objects it has read.
func openRepositories(cfg *config.Config, running *repositories) (*repositories, error) {
	rs := &repositories{byName: make(map[string]*repository, len(cfg.Repositories)), byPath: map[string]*repository{}}
	for _, rc := range cfg.Repositories {
		r := &repository{cfg: rc}
		if rc.App != nil {
			// A key replaced at the same path is a new client.
			key, err := os.ReadFile(rc.App.PrivateKeyFile)
			if err != nil {
				return nil, fmt.Errorf("repository %s: app key: %w", rc.GitHub, err)
			}
			r.appKey = sha256.Sum256(key)
		}
		if old, ok := running.lookup(rc.Name()); ok && sameClient(old.cfg, rc) && old.appKey == r.appKey {
			r.github = old.github
			old.mu.Lock()
			r.local = old.local
			old.mu.Unlock()
		} else if rc.GitHub != "" {
			gh, err := openGitHub(rc)
			if err != nil {
				return nil, err
			}
			r.github = gh
		}
		rs.byName[rc.Name()] = r
		if rc.Path != "" {
			rs.byPath[rc.Path] = r
		}
	}
	return rs, nil
}

func (rs *repositories) lookup(name string) (*repository, bool) {
	if rs == nil {
		return nil, false
	}
	r, ok := rs.byName[name]
	return r, ok
}

// sameClient reports whether a and b are read through the same client.
func sameClient(a, b config.Repository) bool {
	return a.GitHub == b.GitHub && a.Path == b.Path && a.Token == b.Token && a.APIURL == b.APIURL &&
		(a.App == nil) == (b.App == nil) && (a.App == nil || *a.App == *b.App)
}

func openGitHub(rc config.Repository) (*github.Repo, error) {
	owner, name, _ := strings.Cut(rc.GitHub, "/")
	var opts []github.Option
	switch {
	case rc.App != nil:
		opts = append(opts, github.WithApp(rc.App.AppID, rc.App.InstallationID, rc.App.PrivateKeyFile))
	case rc.Token != "":
		opts = append(opts, github.WithToken(string(rc.Token)))
	}
	if rc.APIURL != "" {
		opts = append(opts, github.WithBaseURL(rc.APIURL))
	}
	gh, err := github.New(owner, name, opts...)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", rc.GitHub, err)
	}
	return gh, nil
}

// name is the name of the repository reported as reported: its name, or
// a path repository's path.
func (rs *repositories) name(reported string) string {
	if r, ok := rs.byPath[reported]; ok {
		return r.cfg.Name()
	}
	return reported
}

var errNotConfigured = errors.New("repository not configured")

func (rs *repositories) get(name string) (*repository, error) {
	r, ok := rs.byName[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, errNotConfigured)
	}
	return r, nil
}

// source is the repository's Source. A local repository that cannot be
// opened yet (its disk not mounted, say) is tried again at the next call.
func (rs *repositories) source(name string) (source.Source, error) {
	r, err := rs.get(name)
	if err != nil {
		return nil, err
	}
	if r.github != nil {
		return r.github, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.local == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if r.local, err = gitdir.Open(ctx, r.cfg.Path); err != nil {
			return nil, err
		}
	}
	return r.local, nil
}

// forChange is the repository named name, for package change.
func (rs *repositories) forChange(name string) (change.Repository, error) {
	r, ok := rs.byName[name]
	if !ok {
		return change.Repository{}, fmt.Errorf("%s: %w", name, change.ErrUnknownRepository)
	}
	src, err := rs.source(name)
	if err != nil {
		return change.Repository{}, err
	}
	return change.Repository{Source: src, Promotion: r.cfg.Promotion}, nil
}

// gitHub is the client deploy's github_* actions use.
func (rs *repositories) gitHub(name string) (deploy.GitHubRepo, error) {
	r, err := rs.get(name)
	if err != nil {
		return nil, err
	}
	if r.github == nil {
		return nil, fmt.Errorf("%s is not a GitHub repository", name)
	}
	return deployClient{r.github}, nil
}

// deployClient is a GitHub client as deploy sees it: the same deployment
// fields, in deploy's types.
type deployClient struct{ *github.Repo }

func (c deployClient) CreateDeployment(ctx context.Context, d deploy.Deployment) (int64, error) {
	return c.Repo.CreateDeployment(ctx, github.Deployment(d))
}

func (c deployClient) SetDeploymentStatus(ctx context.Context, id int64, s deploy.DeploymentStatus) error {
	return c.Repo.SetDeploymentStatus(ctx, id, github.DeploymentStatus(s))
}

// annotations reads what the repository's artifacts index says of the
// event's artifact (see readAnnotation); .gto is read where GTO reads it
// (source.ConfigFile).
func (rs *repositories) annotations(ctx context.Context, e *deploy.Event) (deploy.Annotations, error) {
	src, err := rs.source(e.Repository)
	if err != nil {
		return deploy.Annotations{}, err
	}
	a, err := readAnnotation(ctx, src, e.Artifact)
	return deploy.Annotations{Type: a.Type, Path: a.Path, Description: a.Description, Labels: a.Labels}, err
}

// readAnnotation reads what the repository's artifacts index
// (artifacts.yaml, or the file its .gto names) says of artifact, at the
// default branch, as GTO does.
func readAnnotation(ctx context.Context, src source.Source, artifact string) (registry.Annotation, error) {
	// .gto may move the index; it seldom does, so the default index is read
	// at the same time rather than after it: one round trip to GitHub, not
	// two, before every deploy.
	var (
		gto, data       []byte
		gtoErr, dataErr error
		wg              sync.WaitGroup
	)
	wg.Go(func() { gto, gtoErr = source.ConfigFile(ctx, src) })
	wg.Go(func() { data, dataErr = src.ReadFile(ctx, registry.Config{}.IndexFile(), "") })
	wg.Wait()
	var cfg registry.Config
	switch {
	case gtoErr == nil:
		var err error
		if cfg, err = registry.ParseConfig(gto); err != nil {
			return registry.Annotation{}, err
		}
	case !errors.Is(gtoErr, source.ErrNotFound):
		return registry.Annotation{}, gtoErr
	}
	if cfg.IndexFile() != (registry.Config{}).IndexFile() {
		data, dataErr = src.ReadFile(ctx, cfg.IndexFile(), "")
	}
	switch {
	case errors.Is(dataErr, source.ErrNotFound):
		return registry.Annotation{}, nil
	case dataErr != nil:
		return registry.Annotation{}, dataErr
	}
	index, err := registry.ParseIndex(data)
	if err != nil {
		return registry.Annotation{}, err
	}
	a, _ := index.Get(artifact)
	return a, nil
}
