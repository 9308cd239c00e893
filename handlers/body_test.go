package handlers_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Deliveries received at once, of many sizes, are each stored byte for byte
// as sent: their buffers are reused from one delivery to the next, never
// while the store may still read one.
func TestConcurrentDeliveriesAreStoredIntact(t *testing.T) {
	f := newFixture(t)
	const senders, each = 16, 25
	bodies := map[string][]byte{}
	for s := range senders {
		for i := range each {
			id := fmt.Sprintf("d-%d-%d", s, i)
			// A tag push is stored whole; the padding varies the size from
			// about 300 bytes to past the pooled buffers' 64 KiB.
			pad := strings.Repeat(string(rune('a'+s)), (s*each+i)*173%70000)
			body := bytes.Replace(pushBody(repo), []byte(`"created":true`), []byte(`"created":true,"pad":"`+pad+`"`), 1)
			bodies[id] = body
		}
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("d-%d-%d", s, i)
				if r := f.github("push", id, bodies[id]); r.status != 202 {
					t.Errorf("%s answered %d %v", id, r.status, r.body)
				}
			}
		})
	}
	wg.Wait()
	for id, want := range bodies {
		d, err := f.store.Delivery(ctx(t), id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if !bytes.Equal(d.Body, want) {
			t.Fatalf("%s: stored %d bytes that differ from the %d sent", id, len(d.Body), len(want))
		}
	}
}
