package deploy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookd-dev/hookd/internal/confval"
	"github.com/hookd-dev/hookd/store"
)

// runner is one kind of action (exec, http, github_*), compiled from its
// configuration. Everything the kinds share (timeouts, retries, leases,
// output capture, redaction, recording) is the engine's, so a runner only
// performs one attempt.
type runner interface {
	// run performs one attempt, writing what a person debugging it would
	// want to read to inv.out. exitCode is set by kinds that have one.
	run(ctx context.Context, inv *invocation) (exitCode *int, err error)
	// timeout bounds one attempt.
	timeout() time.Duration
}

// invocation is one attempt of a run, as a runner sees it.
type invocation struct {
	ctx *Context
	out *output
	// github returns GitHub clients for github_* kinds.
	github GitHubClients
	// siblings lists the other runs of the same event, for
	// github_deployment, which reports their progress.
	siblings func(ctx context.Context) ([]store.Run, error)
	// runURL links to a run in hookd ("" without a public URL).
	runURL func(id int64) string
}

// MaxOutput is how much of a run's output each attempt keeps: the end,
// where errors are.
const MaxOutput = 64 << 10

// output keeps the last MaxOutput bytes written to it, plus enough to
// recognise a secret cut in half by the boundary.
type output struct {
	mu      sync.Mutex
	buf     []byte
	keep    int // MaxOutput + the longest secret
	dropped int64
}

func newOutput(secrets []string) *output {
	longest := 0
	for _, s := range secrets {
		longest = max(longest, len(s))
	}
	return &output{keep: MaxOutput + longest}
}

// Write never fails, so a noisy process is never blocked or broken by
// hookd; what does not fit is dropped from the front.
func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(o.buf, p...)
	if over := len(o.buf) - o.keep; over > o.keep {
		// Trimming only when twice the size keeps Write amortised O(len(p)).
		o.dropped += int64(over)
		o.buf = append(o.buf[:0], o.buf[over:]...)
	}
	return len(p), nil
}

// Printf writes a line of hookd's own to the output.
func (o *output) Printf(format string, args ...any) {
	fmt.Fprintf(o, format+"\n", args...)
}

// tail returns the last MaxOutput bytes written, with secrets replaced,
// made storable. The cut is made in the raw output, past any secret it
// would split: the bytes kept before the cut (as many as the longest
// secret) let such a secret be found whole, so no part of one is stored.
func (o *output) tail(r *redactor) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	raw := string(o.buf)
	dropped := o.dropped
	if cut := len(raw) - MaxOutput; cut > 0 {
		cut = r.pastSecrets(raw, cut)
		dropped += int64(cut)
		raw = raw[cut:]
	}
	s := r.redact(raw)
	if dropped > 0 {
		s = fmt.Sprintf("[%d earlier bytes dropped]\n", dropped) + s
	}
	return s
}

// storable makes program output fit a text column: valid UTF-8 and no NUL
// (PostgreSQL refuses both), so that a binary-spewing program cannot make
// its own attempt unrecordable.
func storable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// redactor replaces known secret values.
type redactor struct {
	secrets  []string
	replacer *strings.Replacer
}

func newRedactor(secrets []string) *redactor {
	// Longest first, so that a secret containing another is replaced whole.
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	var pairs []string
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, confval.Redacted)
		}
	}
	return &redactor{secrets: secrets, replacer: strings.NewReplacer(pairs...)}
}

// pastSecrets moves cut forward past every secret in s that straddles it.
func (r *redactor) pastSecrets(s string, cut int) int {
	for moved := true; moved; {
		moved = false
		for _, sec := range r.secrets {
			if sec == "" {
				continue
			}
			from := max(0, cut-len(sec)+1)
			to := min(len(s), cut+len(sec)-1)
			for i := strings.Index(s[from:to], sec); i >= 0; {
				if start := from + i; start < cut && start+len(sec) > cut {
					cut, moved = start+len(sec), true
					break
				}
				next := strings.Index(s[from+i+1:to], sec)
				if next < 0 {
					break
				}
				i += 1 + next
			}
		}
	}
	return cut
}

// redact replaces secrets in s and makes it storable.
func (r *redactor) redact(s string) string { return storable(r.replacer.Replace(s)) }
