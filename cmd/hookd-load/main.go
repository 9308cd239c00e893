// Command hookd-load loads running hookd replicas with realistic webhook
// traffic, measures how many deliveries they acknowledge and how fast, and
// then checks through hookd's API that nothing acknowledged was lost or
// doubled.
//
// The mix (-mix) combines GitHub branch pushes (the bulk of a busy
// repository's deliveries, all ignored), pushes of new GTO tags, pushes of
// non-GTO tags, post-receive hook deliveries for a path: repository (tag
// objects included), and redeliveries of earlier deliveries under their own
// id. Deliveries go round-robin to every -url (replicas behind one
// database).
//
// Tag deliveries announce tags that exist: before sending, the tool creates
// them in the repositories hookd reads, -github-dir for the GitHub
// repository (a clone GitHub cannot be, so in practice the tests' GitHub
// stand-in's repository) and -git-dir for the path: repository, whose
// tag objects the post-receive deliveries carry, as the real hook's do.
//
// Every acknowledged (2xx) delivery id is written to -ids. With -token, the
// tool then waits for hookd to settle and verifies from /api/v1/deliveries,
// /events and /runs that each acknowledged delivery was processed, each GTO
// tag became exactly one event (and each other tag none), and each
// assignment's -action ran exactly once, with no two runs of one lane
// overlapping and, with -ledger, the action's program started at most once
// per attempt. It prints the lost, duplicated and unprocessed counts and
// exits 1 if any is not 0.
//
// It only ever talks to loopback addresses, and it always stops: after
// -count deliveries or -duration, whichever comes first, and after -settle.
//
//	hookd-load -secret s3cret -repo acme/models -count 20000 -concurrency 32
//	hookd-load -secret s3cret -rate 1000 -duration 20s -url http://127.0.0.1:8080,http://127.0.0.1:8081
//	hookd-load -git-dir /srv/git/models.git -git-secret s3cret -mix hook=90,redeliver=10 \
//	    -token $TOKEN -action deploy -count 2000
//
// With -pid (one per replica, comma-separated) it also reports each
// process's peak resident memory (VmHWM).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type options struct {
	urls        []string // hookd base URLs, one per replica
	secret      string   // the GitHub repository's webhook secret
	repo        string   // the GitHub repository's full name
	githubDir   string   // where its tags are made
	gitDir      string   // the path: repository
	gitRepo     string   // its identity in hookd's config
	gitSecret   string   // its hook secret
	mix         mix
	seed        uint64
	count       int
	duration    time.Duration
	concurrency int
	rate        int
	size        int
	pids        []int
	ids         string // file of acknowledged delivery ids
	verifyOnly  string // an -ids file to verify, sending nothing
	// onAck, if set, is told the count of acknowledged deliveries after
	// each one (fault tests strike mid-load with it).
	onAck func(acked int)

	// Verification, from the API.
	token  string
	action string
	ledger string
	settle time.Duration
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookd-load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if o.verifyOnly != "" {
		os.Exit(verifyFile(ctx, o))
	}
	res, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookd-load:", err)
		os.Exit(1)
	}
	res.print(os.Stdout, o)
	if o.token == "" {
		if res.failed > 0 {
			os.Exit(1)
		}
		return
	}
	os.Exit(verdict(ctx, o, res.acked))
}

// verdict verifies acked and prints the report: exit code 0 when clean.
func verdict(ctx context.Context, o options, acked []*delivery) int {
	rep, err := verify(ctx, o, acked)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookd-load: verify:", err)
		return 1
	}
	rep.print(os.Stdout)
	if !rep.clean() {
		return 1
	}
	return 0
}

// verifyFile verifies an earlier run from its -ids file, sending nothing:
// after a crash and a restart, say.
func verifyFile(ctx context.Context, o options) int {
	f, err := os.Open(o.verifyOnly)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookd-load:", err)
		return 2
	}
	defer f.Close()
	acked, err := readAcked(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hookd-load: %s: %v\n", o.verifyOnly, err)
		return 2
	}
	return verdict(ctx, o, acked)
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("hookd-load", flag.ContinueOnError)
	urls := fs.String("url", "http://127.0.0.1:8080", "hookd's base URL; several, comma-separated, for replicas (loopback only)")
	fs.StringVar(&o.secret, "secret", "", "the GitHub repository's webhook secret (needed for branch, gto, other)")
	fs.StringVar(&o.repo, "repo", "acme/models", "the GitHub repository's full name, as configured in hookd")
	fs.StringVar(&o.githubDir, "github-dir", "", "a git repository on this machine that hookd's GitHub API reads -repo's tags from (needed for gto, other)")
	fs.StringVar(&o.gitDir, "git-dir", "", "the path: repository of hookd's config, for post-receive deliveries (needed for hook)")
	fs.StringVar(&o.gitRepo, "git-repo", "", "the path: repository's identity in hookd's config (default: -git-dir made absolute)")
	fs.StringVar(&o.gitSecret, "git-secret", "", "the path: repository's hook secret (default -secret)")
	mixFlag := fs.String("mix", "", "deliveries per hundred by kind: branch, gto, other, hook, redeliver\n(default branch=100, or with -github-dir and -git-dir branch=60,gto=15,other=5,hook=10,redeliver=10)")
	fs.Uint64Var(&o.seed, "seed", 1, "shuffles the mix; the same seed sends the same sequence")
	fs.IntVar(&o.count, "count", 10000, "deliveries to send at most")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "time to send for at most")
	fs.IntVar(&o.concurrency, "concurrency", 32, "requests in flight at most")
	fs.IntVar(&o.rate, "rate", 0, "deliveries per second (0: as fast as hookd answers)")
	fs.IntVar(&o.size, "size", 8<<10, "approximate size of a branch push payload in bytes")
	pids := fs.String("pid", "", "hookd's process ids, comma-separated, to report their peak RSS")
	fs.StringVar(&o.ids, "ids", "", "file to write every acknowledged delivery to: id, source, kind, tags")
	fs.StringVar(&o.verifyOnly, "verify", "", "send nothing: verify the deliveries an earlier run wrote to its -ids FILE (needs -token)")
	fs.StringVar(&o.token, "token", "", "an API bearer token with read scope: verify the outcome from the API after sending\n(default $HOOKD_TOKEN; without one, nothing is verified)")
	fs.StringVar(&o.action, "action", "", "the action configured to run on every assignment: verify each ran once")
	fs.StringVar(&o.ledger, "ledger", "", "file the action appends $HOOKD_IDEMPOTENCY_KEY to when it starts: verify at most one start per attempt")
	fs.DurationVar(&o.settle, "settle", 2*time.Minute, "how long to wait for hookd to process everything before verifying")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hookd-load [flags]\n\n"+
			"Sends signed GitHub and post-receive deliveries to hookd replicas on this\n"+
			"machine, reports throughput and acknowledgement latency, and with -token\n"+
			"verifies from hookd's API that nothing acknowledged was lost or doubled\n"+
			"(exit 1 if anything was).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.urls = strings.Split(*urls, ",")
	for _, p := range strings.Split(*pids, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("-pid: %q is not a process id", p)
		}
		o.pids = append(o.pids, n)
	}
	if o.token == "" {
		o.token = os.Getenv("HOOKD_TOKEN")
	}
	if o.gitSecret == "" {
		o.gitSecret = o.secret
	}
	if o.gitDir != "" && o.gitRepo == "" {
		abs, err := filepath.Abs(o.gitDir)
		if err != nil {
			return o, err
		}
		o.gitRepo = abs
	}
	var err error
	switch {
	case *mixFlag != "":
		o.mix, err = parseMix(*mixFlag)
	case o.githubDir != "" && o.gitDir != "":
		o.mix, err = parseMix("branch=60,gto=15,other=5,hook=10,redeliver=10")
	default:
		o.mix, err = parseMix("branch=100")
	}
	if err != nil {
		return o, err
	}
	return o, o.check()
}

func (o options) check() error {
	if len(o.urls) == 0 {
		return errors.New("-url names no hookd")
	}
	for i, raw := range o.urls {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Host == "" {
			return fmt.Errorf("-url %q is not a URL", raw)
		}
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("-url %q: hookd-load only sends to loopback addresses (127.0.0.0/8, ::1, localhost)", raw)
		}
		// A webhook URL (the tool's older form) names its hookd too.
		u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/webhooks/github"), "/")
		o.urls[i] = u.String()
	}
	if o.verifyOnly != "" {
		if o.token == "" {
			return errors.New("-verify needs -token (or $HOOKD_TOKEN): it reads hookd's API")
		}
		return nil
	}
	switch {
	case o.count <= 0:
		return errors.New("-count must be positive")
	case o.duration <= 0:
		return errors.New("-duration must be positive")
	case o.concurrency <= 0:
		return errors.New("-concurrency must be positive")
	case o.rate < 0:
		return errors.New("-rate must not be negative")
	case o.secret == "" && (o.mix[branch]+o.mix[gto]+o.mix[other]) > 0:
		return errors.New("-secret is required for GitHub deliveries (the webhook secret of -repo in hookd's config)")
	case o.githubDir == "" && (o.mix[gto]+o.mix[other]) > 0:
		return errors.New("-mix has GitHub tag pushes: -github-dir must name the repository hookd's GitHub API reads, to create the tags in")
	case o.gitDir == "" && o.mix[hook] > 0:
		return errors.New("-mix has post-receive deliveries: -git-dir must name the path: repository configured in hookd")
	case o.gitDir != "" && o.mix[hook] > 0 && o.gitSecret == "":
		return errors.New("-git-secret (or -secret) is required for post-receive deliveries")
	case o.ledger != "" && o.action == "":
		return errors.New("-ledger needs -action: the ledger is that action's")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
