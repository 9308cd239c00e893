package client_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/hookd-dev/hookd/client"
)

// After an outage, an operator's script lists the deploy runs that failed
// and retries them. Runs is an iterator: it fetches further pages as the
// loop goes on (here one run a page), and stops fetching when the loop
// stops.
func Example_retryFailedRuns() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("HOOKD_SERVER"), client.WithToken(os.Getenv("HOOKD_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	failed := client.RunFilter{Repository: "acme/models", Status: "failed", Page: client.Page{Limit: 1}}
	var retried []int64
	for run, err := range c.Runs(ctx, failed) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s of %s to %s failed after %d attempt(s)\n", run.Action, run.Artifact, run.Stage, run.Attempts)
		if err := c.RetryRun(ctx, run.ID); err != nil {
			log.Fatal(err)
		}
		retried = append(retried, run.ID)
	}
	for _, id := range retried {
		run, err := c.Run(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s to %s is %s; last error: %s\n", run.Action, run.Stage, run.Status, run.History[len(run.History)-1].Error)
	}
	// Output:
	// redeploy of churn to staging failed after 1 attempt(s)
	// redeploy of churn to dev failed after 1 attempt(s)
	// redeploy to staging is queued; last error: exit status 1: the cluster did not answer
	// redeploy to dev is queued; last error: exit status 1: the cluster did not answer
}
