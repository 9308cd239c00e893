package store

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
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
		child, stdout := startChild(t, childURLEnv+"="+url)
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
		r := drain(t, s)
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

// workerURLEnv makes the test binary a hookd process whose job hangs while
// it works a delivery, until it is killed (see TestJobsOfAKilledWorker...).
const workerURLEnv = "HOOKD_STORE_TEST_WORKER_URL"

// workUntilKilled accepts one delivery, starts working it, says so, and
// hangs there.
func workUntilKilled(url string) {
	ctx := context.Background()
	s, err := Open(ctx, url, WithLogger(quiet))
	if err == nil {
		_, err = s.Accept(ctx, delivery("hung"))
	}
	if err == nil {
		err = s.StartWorkers(ctx, Workers{
			ProcessDelivery: func(context.Context, Delivery) (Outcome, error) {
				fmt.Println("working")
				select {}
			},
			ReconcileRepository: func(context.Context, string) error { return nil },
			RunAction:           func(context.Context, int64) error { return nil },
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	select {}
}

// A job that was running when its process died is worked again within
// seconds, long before River's own rescue (minutes) would.
func TestJobsOfAKilledWorkerAreResumedPromptly(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		child, stdout := startChild(t, workerURLEnv+"="+url)
		if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "working\n" {
			child.Process.Kill()
			t.Fatalf("child said %q", line)
		}
		child.Process.Kill()
		child.Wait()

		s := open(t, url)
		r := &recorder{s: s, processed: map[string]int{}}
		if err := s.StartWorkers(ctxT(t), r.workers()); err != nil {
			t.Fatal(err)
		}
		// waitFor gives up after a minute; River alone would wait five.
		waitFor(t, "the killed worker's delivery processed", func() bool { return r.count("hung") == 1 })
		if err := s.StopWorkers(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
}

// A job running in a live process is never handed to another: its
// heartbeat keeps it.
func TestJobsOfALiveWorkerStayWithIt(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		a := open(t, url)
		if _, err := a.Accept(ctx, delivery("long")); err != nil {
			t.Fatal(err)
		}
		started, release := make(chan struct{}), make(chan struct{})
		ra := &recorder{s: a, processed: map[string]int{}}
		wa := ra.workers()
		work := wa.ProcessDelivery
		wa.ProcessDelivery = func(ctx context.Context, d Delivery) (Outcome, error) {
			close(started)
			<-release
			return work(ctx, d)
		}
		if err := a.StartWorkers(ctx, wa); err != nil {
			t.Fatal(err)
		}
		<-started

		b := open(t, url)
		rb := &recorder{s: b, processed: map[string]int{}}
		if err := b.StartWorkers(ctx, rb.workers()); err != nil {
			t.Fatal(err)
		}
		// Long enough for a's heartbeat to have expired had it not been
		// renewed, and for b to have swept several times.
		time.Sleep(heartbeatTTL + 2*heartbeatEvery)
		if n := rb.count("long"); n != 0 {
			t.Fatalf("a job running in a live process was also given to another (%d times)", n)
		}
		close(release)
		waitFor(t, "the delivery processed", func() bool { return ra.count("long") == 1 })
		for _, s := range []*Store{a, b} {
			if err := s.StopWorkers(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// startChild runs this test binary as a child process in the role env
// selects (see TestMain), and returns it with its standard output.
func startChild(t *testing.T, env string) (*exec.Cmd, io.Reader) {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), env)
	child.Stderr = os.Stderr
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	return child, stdout
}
