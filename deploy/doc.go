// Package deploy turns lifecycle events into the deploy actions users
// configure, and runs them with the guarantees a deployment needs.
//
// # Configuring actions
//
// An [Action] is one entry of the configuration's `actions:` list (package
// config decodes the YAML into []Action and calls [Validate]):
//
//	actions:
//	  - name: redeploy-prod
//	    on: {repo: "acme/models", artifact: "churn-*", event: [assignment], stage: prod}
//	    exec: {command: ["./deploy.sh", "{{.Artifact}}", "{{.Version}}"], timeout: 10m}
//
// [Match] (`on:`) selects events by repository, artifact and stage globs
// ([Patterns]), event types and a SemVer [Constraint] on the version. Every
// action whose Match selects an event runs for it. The action's kind is
// exactly one of [ExecAction] (a program, argv only, never a shell),
// [HTTPAction] (a request, signed with [Sign] so the receiver can
// [VerifySignature], or with Standard Webhooks' webhook-signature),
// [WorkflowAction] (workflow_dispatch), [DispatchAction]
// (repository_dispatch), [DeploymentAction] (a GitHub Deployment whose
// status follows the event's other actions) and [SlackAction] (a Block Kit
// message announcing the event, or the outcome of its other actions).
//
// Strings are text/template templates over a [Context]: the [Event]
// ({{.Artifact}}, {{.Version}}, {{.Stage}}, {{.Previous}}, {{.Tag}},
// {{.Annotations.Path}}, ...), the run's IdempotencyKey, RunID, Attempt and
// RunURL, and {{.Secret "NAME"}} for the action's secrets; {{json .X}},
// {{urlpath .X}} and {{urlquery .X}} escape values for JSON, a URL path
// segment and a URL query. [Validate] executes every template against
// [SampleEvent], so a mistake is a [Problem] with a path to its line, not
// a failed run at 3 a.m.; and again against tag text full of '/', '"',
// '#', spaces and non-ASCII, refusing a URL whose shape or a body whose
// JSON that changes, and a shell -c script with a template in it.
//
// # Running them
//
// An [Engine] (built by [NewEngine] from the actions and the store's runs,
// [Runs]) has two entry points on the event path:
//
//   - [Engine.Dispatch], after an event is recorded, creates one run per
//     matching action (unique per event and action) and queues it;
//   - [Engine.Execute], the store's RunAction job worker, performs a run's
//     next attempt.
//
// Execute holds the run's lane, one run at a time per (repository,
// artifact, stage, action), through a lease in the database, so the rule
// holds across processes and restarts; a crashed holder's lease expires
// and the run is resumed with the same idempotency key. A queued run for
// a stage is superseded, not started, when the same action has a newer
// run for that stage; without superseding, a lane's runs start in order.
// A failed attempt is retried with exponential backoff and jitter until
// max_attempts, then the run is failed until it is retried by hand (the
// store's RetryRun, behind POST /api/v1/runs/{id}/retry). A receiver's
// Retry-After holds the next attempt back at least that long; a 410 Gone
// fails the run at once and marks the URL gone until the next reload; a
// redirect is a failure.
//
// Tag names and messages are written by anyone who can push a tag, so
// their values reach programs only as whole arguments or environment
// values, secrets never leave the action unredacted, and output is kept
// only as a bounded tail.
package deploy
