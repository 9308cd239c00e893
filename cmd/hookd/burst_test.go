package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/handlers"
)

// BenchmarkBurstOfDistinctTags measures what issue 14 compares with a
// stateless receiver: 1,000 new assignment tags (each a stage of its own
// artifact, so each its own lane) pushed to the GitHub stand-in at once,
// which sends no webhook for a push of more than three tags, then one
// delivery per tag sent by the benchmark, 16 in flight. It reports the time
// from the first send until the first and the last matching command
// started, the CPU hookd used meanwhile (and its commands, apart), and the
// GitHub requests the burst cost.
//
//	go test -run '^$' -bench BurstOfDistinctTags -benchtime 3x ./cmd/hookd
func BenchmarkBurstOfDistinctTags(b *testing.B) {
	const tags, inFlight = 1000, 16
	p := newPipeline(b, filepath.Join(b.TempDir(), "hookd.db"))
	starts := filepath.Join(b.TempDir(), "starts")
	p.addAction("deploy", "sh", "-c", `date +%s%N >> "$1"`, "deploy", starts)
	pid := p.hookd.cmd.Process.Pid

	var lastEvent, firstStart, lastStart, cpu, commandsCPU, requests []float64
	for round := 0; b.Loop(); round++ {
		b.StopTimer()
		names := make([]string, tags)
		for i := range names {
			names[i] = fmt.Sprintf("burst%d-model%d#prod#1", round, i)
			p.git(p.clone, "tag", "-a", "-m", "burst", names[i])
		}
		p.git(p.clone, "push", "-q", "origin", "--tags")
		before := len(p.gh.Requests())
		cpuBefore, commandsBefore := processCPU(b, pid)
		b.StartTimer()

		first := time.Now()
		work := make(chan int)
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				for i := range work {
					if status := p.postPush(fmt.Sprintf("burst-%d-%d", round, i), names[i]); status != 202 {
						b.Errorf("delivery of %s answered %d", names[i], status)
					}
				}
			})
		}
		for i := range names {
			work <- i
		}
		close(work)
		wg.Wait()
		earliest, last := waitStarts(b, starts, round*tags, tags)

		b.StopTimer()
		lastEvent = append(lastEvent, float64(p.hookd.LastLogTime("event recorded").Sub(first))/1e6)
		firstStart = append(firstStart, float64(earliest.Sub(first))/1e6)
		lastStart = append(lastStart, float64(last.Sub(first))/1e6)
		own, commands := processCPU(b, pid)
		cpu = append(cpu, (own - cpuBefore).Seconds())
		commandsCPU = append(commandsCPU, (commands - commandsBefore).Seconds())
		reqs := p.gh.Requests()[before:]
		requests = append(requests, float64(len(reqs)))
		byEndpoint := map[string]int{}
		for _, r := range reqs {
			byEndpoint[r.Endpoint]++
		}
		b.Logf("round %d: GitHub requests by endpoint: %v", round, byEndpoint)
		b.StartTimer()
	}
	b.ReportMetric(median(lastEvent), "last-event-ms")
	b.ReportMetric(median(firstStart), "first-start-ms")
	b.ReportMetric(median(lastStart), "last-start-ms")
	b.ReportMetric(median(cpu), "hookd-cpu-s")
	b.ReportMetric(median(commandsCPU), "commands-cpu-s")
	b.ReportMetric(median(requests), "github-requests")
}

// waitStarts waits until the action has written n start times after the
// first skip, and returns the earliest and the latest of those n.
func waitStarts(b *testing.B, path string, skip, n int) (earliest, latest time.Time) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		data, _ := os.ReadFile(path)
		if lines := strings.Fields(string(data)); len(lines) >= skip+n {
			first, last := int64(math.MaxInt64), int64(0)
			for _, l := range lines[skip : skip+n] {
				ns, err := strconv.ParseInt(l, 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				first, last = min(first, ns), max(last, ns)
			}
			return time.Unix(0, first), time.Unix(0, last)
		} else if time.Now().After(deadline) {
			b.Fatalf("the action started %d times, want %d", len(lines), skip+n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// processCPU is the user and system CPU time process pid has used, and
// that of its children it has waited for (the commands it ran).
func processCPU(b *testing.B, pid int) (own, children time.Duration) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which is in parentheses): utime,
	// stime, cutime and cstime are the 12th to 15th, in clock ticks of
	// 1/100 s.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ticks := func(i int) time.Duration {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(v) * 10 * time.Millisecond
	}
	return ticks(11) + ticks(12), ticks(13) + ticks(14)
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkOneTagRepeated sends the push delivery of one existing
// assignment tag again and again under new delivery ids, 16 in flight, for
// ten seconds, through a running `hookd serve` on SQLite whose GitHub is
// the stand-in: what a stateless receiver is compared on when one tag is
// pushed repeatedly. It reports acknowledgements per second, their p99,
// and hookd's CPU per acknowledgement.
//
//	go test -run '^$' -bench OneTagRepeated -benchtime 1x ./cmd/hookd
func BenchmarkOneTagRepeated(b *testing.B) {
	const inFlight, length = 16, 10 * time.Second
	p := newPipeline(b, filepath.Join(b.TempDir(), "hookd.db"))
	p.tag("churn#prod#1", "2024-01-02T10:00:00+00:00")
	p.git(p.clone, "push", "-q", "origin", "churn#prod#1")
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/tags/churn#prod#1", "before": strings.Repeat("0", 40), "after": strings.Repeat("1", 40),
		"created": true, "deleted": false, "head_commit": map[string]any{"id": strings.Repeat("2", 40)},
		"repository": map[string]any{"full_name": "acme/models"},
	})
	signature := handlers.Sign(pipelineSecret, body)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: inFlight}}
	url := "http://" + p.hookd.Addr + "/webhooks/github"
	pid := p.hookd.cmd.Process.Pid

	for round := 0; b.Loop(); round++ {
		var (
			mu        sync.Mutex
			latencies []time.Duration
			wg        sync.WaitGroup
		)
		cpuBefore, _ := processCPU(b, pid)
		start := time.Now()
		for w := range inFlight {
			wg.Go(func() {
				for n := 0; time.Since(start) < length; n++ {
					req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-GitHub-Event", "push")
					req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("repeat-%d-%d-%d", round, w, n))
					req.Header.Set("X-Hub-Signature-256", signature)
					sent := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						b.Errorf("delivery answered %d", resp.StatusCode)
						return
					}
					mu.Lock()
					latencies = append(latencies, time.Since(sent))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		own, _ := processCPU(b, pid)
		cpu := own - cpuBefore
		b.ReportMetric(float64(len(latencies))/took.Seconds(), "acks/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(latencies))/1e3, "hookd-cpu-ms/ack")
		report(b, "ack", latencies)
	}
}

// BenchmarkOneTagRepeatedWrk is BenchmarkOneTagRepeated with Debian's wrk
// as the client (docs/bench/push.lua), the client the peer is measured
// with, so that the two figures compare: the same annotated assignment
// tag pushed again and again under new delivery ids, 16 in flight, ten
// seconds, GitHub being the stand-in. It needs wrk on PATH.
//
//	go test -run '^$' -bench OneTagRepeatedWrk -benchtime 1x ./cmd/hookd
func BenchmarkOneTagRepeatedWrk(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed (Debian: apt-get install wrk)")
	}
	p := newPipeline(b, filepath.Join(b.TempDir(), "hookd.db"))
	p.tag("churn#prod#1", "2024-01-02T10:00:00+00:00")
	p.git(p.clone, "push", "-q", "origin", "churn#prod#1")
	object := p.git(p.clone, "rev-parse", "refs/tags/churn#prod#1")
	url := "http://" + p.hookd.Addr + "/webhooks/github"
	pid := p.hookd.cmd.Process.Pid

	const length = 10 * time.Second
	for b.Loop() {
		cpuBefore, _ := processCPU(b, pid)
		out, err := exec.Command(wrk, "-t2", "-c16", "-d"+length.String(), "--latency", "-s", filepath.Join("..", "..", "docs", "bench", "push.lua"),
			url, "--", pipelineSecret, "acme/models", "tag", "churn#prod#1", object).CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		own, _ := processCPU(b, pid)
		if strings.Contains(string(out), "Non-2xx") {
			b.Fatalf("hookd answered some deliveries with an error:\n%s", out)
		}
		rate, p99 := wrkFigures(b, string(out))
		b.ReportMetric(rate, "acks/s")
		b.ReportMetric(p99, "ack-p99-ms")
		b.ReportMetric(float64((own-cpuBefore).Microseconds())/(rate*length.Seconds())/1e3, "hookd-cpu-ms/ack")
	}
}

// wrkFigures reads the requests per second and the p99 latency (in ms)
// from wrk's --latency report.
func wrkFigures(b *testing.B, out string) (rate, p99 float64) {
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			rate, _ = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "99%":
			d, err := time.ParseDuration(f[1])
			if err != nil {
				b.Fatalf("wrk's p99 %q: %v", f[1], err)
			}
			p99 = float64(d) / 1e6
		}
	}
	if rate == 0 || p99 == 0 {
		b.Fatalf("no rate or p99 in wrk's report:\n%s", out)
	}
	return rate, p99
}
