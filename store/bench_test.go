package store

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkAccept measures acknowledged deliveries per second with many
// concurrent callers and 8 KB payloads; each Accept returns only after its
// delivery and job are committed.
//
//	go test -run '^$' -bench Accept -benchtime 20000x ./store/
func BenchmarkAccept(b *testing.B) {
	body := bytes.Repeat([]byte(`{"ref":"refs/tags/churn@v1.2.3","x":"0123456789abcdef"}`), 8192/56)
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			s := open(b, db.url(b))
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(32) // 32 callers per core, like a busy webhook endpoint
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d := Delivery{ID: fmt.Sprintf("bench-%d", n.Add(1)), Source: SourceGitHub, Event: "push",
						Repository: "acme/models", Body: body}
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
