package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// daemonCollector reports, at each scrape, what is read rather than
// counted: the job queue and the deliveries waiting for another attempt
// (from the database, so they hold across replicas), and each GitHub
// repository's API use and remaining rate limit.
type daemonCollector struct{ d *daemon }

var (
	queueJobsDesc = prometheus.NewDesc("hookd_queue_jobs",
		"Jobs in the queue by state: available (ready to run), running, later (scheduled or waiting to retry).",
		[]string{"state"}, nil)
	queueAgeDesc = prometheus.NewDesc("hookd_queue_oldest_available_seconds",
		"How long the longest-waiting ready job has waited.", nil, nil)
	deliveriesWaitingDesc = prometheus.NewDesc("hookd_deliveries_waiting",
		"Queued deliveries whose last processing attempt failed (GitHub unreachable, rate limited, ...); GET /api/v1/deliveries?status=queued says why and when the next attempt is.",
		nil, nil)
	deliveriesWaitingAgeDesc = prometheus.NewDesc("hookd_deliveries_waiting_oldest_seconds",
		"How long ago the longest-waiting of those deliveries arrived (0 when none waits).", nil, nil)
	githubRequestsDesc = prometheus.NewDesc("hookd_github_requests_total",
		"HTTP requests sent to the GitHub API (REST and GraphQL, 304s and retries included).",
		[]string{"repository"}, nil)
	githubRemainingDesc = prometheus.NewDesc("hookd_github_rate_limit_remaining",
		"Requests (REST) or points (GraphQL) left in GitHub's current rate-limit window; -1 before the first answer.",
		[]string{"repository", "api"}, nil)
)

func (c daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueJobsDesc, queueAgeDesc, deliveriesWaitingDesc, deliveriesWaitingAgeDesc, githubRequestsDesc, githubRemainingDesc} {
		ch <- d
	}
}

func (c daemonCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if st, err := c.d.store.QueueStats(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(queueJobsDesc, prometheus.GaugeValue, float64(st.Available), "available")
		ch <- prometheus.MustNewConstMetric(queueJobsDesc, prometheus.GaugeValue, float64(st.Running), "running")
		ch <- prometheus.MustNewConstMetric(queueJobsDesc, prometheus.GaugeValue, float64(st.Later), "later")
		ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, st.OldestAvailable.Seconds())
		ch <- prometheus.MustNewConstMetric(deliveriesWaitingDesc, prometheus.GaugeValue, float64(st.WaitingDeliveries))
		ch <- prometheus.MustNewConstMetric(deliveriesWaitingAgeDesc, prometheus.GaugeValue, st.OldestWaiting.Seconds())
	} else {
		ch <- prometheus.NewInvalidMetric(queueJobsDesc, err)
	}
	for name, r := range c.d.repos.Load().byName {
		if r.github == nil {
			continue
		}
		s := r.github.Stats()
		ch <- prometheus.MustNewConstMetric(githubRequestsDesc, prometheus.CounterValue, float64(s.Requests), name)
		ch <- prometheus.MustNewConstMetric(githubRemainingDesc, prometheus.GaugeValue, float64(s.RateRemaining), name, "rest")
		ch <- prometheus.MustNewConstMetric(githubRemainingDesc, prometheus.GaugeValue, float64(s.GraphQLRemaining), name, "graphql")
	}
}
