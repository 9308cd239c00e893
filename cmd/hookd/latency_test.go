package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/source"
	"github.com/hookd-dev/hookd/source/github"
)

// BenchmarkTagAcceptedTo measures, through a running `hookd serve` on
// SQLite and the GitHub stand-in, how long after hookd acknowledged a tag's
// push delivery (its 202) the event is stored, and the deploy action's
// process has started. Each iteration creates an assignment tag through the
// stand-in's API (which sends no webhook), then delivers its push.
//
//	go test -run '^$' -bench TagAcceptedTo -benchtime 200x ./cmd/hookd
func BenchmarkTagAcceptedTo(b *testing.B) {
	p := newPipeline(b, filepath.Join(b.TempDir(), "hookd.db"))
	starts := filepath.Join(b.TempDir(), "starts")
	p.addAction("deploy", "sh", "-c", `date +%s%N >> "$1"`, "deploy", starts)
	repo, err := github.New("acme", "models", github.WithToken(p.gh.Token()), github.WithBaseURL(p.gh.APIURL()))
	if err != nil {
		b.Fatal(err)
	}
	commit := p.git(p.clone, "rev-parse", "HEAD")
	ctx := context.Background()

	var toEvent, toProcess []time.Duration
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("bench#prod#%d", i+1)
		if _, err := repo.CreateTag(ctx, source.NewTag{Name: name, Commit: commit, Message: "bench"}); err != nil {
			b.Fatal(err)
		}
		if status := p.postPush(fmt.Sprintf("bench-%d", i), name); status != 202 {
			b.Fatalf("delivery answered %d", status)
		}
		accepted := time.Now()
		recorded := p.hookd.WaitLog("event recorded")
		at, err := time.Parse(time.RFC3339Nano, recorded["time"].(string))
		if err != nil || recorded["tag"] != name {
			b.Fatalf("event log %v: %v", recorded, err)
		}
		toEvent = append(toEvent, at.Sub(accepted))
		toProcess = append(toProcess, waitStart(b, starts, i+1).Sub(accepted))
	}
	report(b, "event", toEvent)
	report(b, "exec", toProcess)
}

// waitStart waits for the n-th line the action wrote and returns the time
// it holds.
func waitStart(b *testing.B, path string, n int) time.Time {
	deadline := time.Now().Add(waitLimit)
	for {
		data, _ := os.ReadFile(path)
		if lines := strings.Fields(string(data)); len(lines) >= n {
			ns, err := strconv.ParseInt(lines[n-1], 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return time.Unix(0, ns)
		}
		if time.Now().After(deadline) {
			b.Fatalf("the action started %d times, want %d", len(strings.Fields(string(data))), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// report adds p50 and p99 of d, in milliseconds, to the benchmark's output.
func report(b *testing.B, what string, d []time.Duration) {
	slices.Sort(d)
	q := func(f float64) float64 { return float64(d[min(len(d)-1, int(f*float64(len(d))))]) / 1e6 }
	b.ReportMetric(q(0.50), what+"-p50-ms")
	b.ReportMetric(q(0.99), what+"-p99-ms")
}
