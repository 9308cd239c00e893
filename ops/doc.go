// Package ops holds what an operator installs hookd with, beside the
// tests that check each artifact: the systemd unit (systemd/), the
// Kubernetes manifests (kubernetes/), the Prometheus alerting rules
// (prometheus/), and the repository's Dockerfile. docs/OPERATIONS.md is
// their manual.
package ops
