package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// childURLEnv makes the test binary act as a hookd process that accepts
// deliveries until it is killed (see TestAcceptedSurviveSIGKILL).
const childURLEnv = "HOOKD_STORE_TEST_CHILD_URL"

// acceptUntilKilled accepts deliveries from 16 callers and prints each id
// once Accept has acknowledged it, as a webhook handler would answer 2xx.
func acceptUntilKilled(url string) {
	ctx := context.Background()
	s, err := Open(ctx, url, WithLogger(quiet))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var (
		mu  sync.Mutex
		out = bufio.NewWriter(os.Stdout)
		wg  sync.WaitGroup
	)
	for c := range 16 {
		wg.Go(func() {
			for i := range 100_000 {
				id := fmt.Sprintf("c%d-%d", c, i)
				if _, err := s.Accept(ctx, delivery(id)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintln(out, id)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(3) // the parent kills us long before
}

// A process killed with SIGKILL loses nothing it acknowledged: after the
// restart every acknowledged delivery is stored and processed exactly once.
func TestAcceptedSurviveSIGKILL(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), childURLEnv+"="+url)
		child.Stderr = os.Stderr
		stdout, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		const acks = 1000
		var acked []string
		lines := bufio.NewScanner(stdout)
		for len(acked) < acks && lines.Scan() {
			acked = append(acked, lines.Text())
		}
		child.Process.Kill() // SIGKILL, mid-stream
		child.Wait()
		if len(acked) < acks {
			t.Fatalf("child acknowledged only %d deliveries before it stopped", len(acked))
		}

		s := open(t, url)
		r := &recorder{s: s, processed: map[string]int{}}
		if err := s.StartWorkers(ctx, r.workers()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "all deliveries processed", func() bool { return queuedCount(t, s) == 0 })
		if err := s.StopWorkers(ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range acked {
			d, err := s.Delivery(ctx, id)
			if err != nil || d.Status != DeliveryProcessed || r.count(id) != 1 {
				t.Errorf("%s: acknowledged, then after SIGKILL: %v, %s, processed %d times", id, err, d.Status, r.count(id))
			}
		}
		for id, n := range r.processed {
			if n != 1 {
				t.Errorf("%s processed %d times", id, n)
			}
		}
	})
}
