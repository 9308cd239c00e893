package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAccept measures acknowledged deliveries per second with many
// concurrent callers and 8 KB payloads; each Accept returns only after its
// delivery and job are committed. The ignored ones (branch pushes) have no
// job to queue.
//
//	go test -run '^$' -bench Accept -benchtime 20000x ./store/
func BenchmarkAccept(b *testing.B) {
	body := bytes.Repeat([]byte(`{"ref":"refs/tags/churn@v1.2.3","x":"0123456789abcdef"}`), 8192/56)
	for _, status := range []DeliveryStatus{DeliveryQueued, DeliveryIgnored} {
		for _, db := range databases {
			name := db.name
			if status == DeliveryIgnored {
				name += "/ignored"
			}
			b.Run(name, func(b *testing.B) {
				s := open(b, db.url(b))
				ctx := context.Background()
				var n atomic.Int64
				b.SetParallelism(32) // 32 callers per core, like a busy webhook endpoint
				b.SetBytes(int64(len(body)))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						d := Delivery{ID: fmt.Sprintf("bench-%d", n.Add(1)), Source: SourceGitHub, Event: "push",
							Repository: "acme/models", Body: body, Status: status}
						if _, err := s.Accept(ctx, d); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			})
		}
	}
}

// BenchmarkAcceptLatency sends deliveries at a steady 1,000/s, each from its
// own caller as separate webhook requests would, and reports acknowledgement
// latency percentiles (ns/op is just the 1 ms pacing).
//
//	go test -run '^$' -bench AcceptLatency -benchtime 5000x ./store/
func BenchmarkAcceptLatency(b *testing.B) {
	body := bytes.Repeat([]byte(`{"ref":"refs/tags/churn@v1.2.3","x":"0123456789abcdef"}`), 8192/56)
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			s := open(b, db.url(b))
			ctx := context.Background()
			latencies := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			b.ResetTimer()
			for i := range b.N {
				<-tick.C
				wg.Go(func() {
					start := time.Now()
					d := Delivery{ID: fmt.Sprintf("lat-%d", i), Source: SourceGitHub, Event: "push", Repository: "acme/models", Body: body}
					if _, err := s.Accept(ctx, d); err != nil {
						b.Error(err)
					}
					latencies[i] = time.Since(start)
				})
			}
			wg.Wait()
			slices.Sort(latencies)
			at := func(q float64) float64 { return float64(latencies[int(q*float64(len(latencies)-1))]) / 1e6 }
			b.ReportMetric(at(0.5), "p50-ms")
			b.ReportMetric(at(0.99), "p99-ms")
			b.ReportMetric(at(1), "max-ms")
		})
	}
}
