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
// ([Patterns]), event types and a SemVer [Constraint] on the version. The action's kind is
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
// # Environments converge on what GTO shows
//
// Deploys are level-triggered. A lane is one environment: an action
// deploying one artifact's stage of one repository. Every event carries the
// stages whose versions it changed (store.Event.Stages: an assignment, an
// unassignment, a tag's deletion, a deregistration or a registration may
// each move one or more), and [Engine.Dispatch] moves the desired state of
// the lanes watching those stages to what GTO now shows. A lane gets a run
// when the change is what its action asks for: with `event: [assignment]`,
// the stage holds a version it did not, or the version it holds was
// re-assigned (a redeploy); with `unassignment`, the stage lost one. A tag
// that changes nothing GTO shows deploys nothing. Registrations,
// deregistrations and deprecations also run the actions that select them,
// once per event.
//
// # Running them
//
// [Engine.Execute], the store's RunAction job worker, performs the next
// attempt in a run's lane, one at a time per lane across processes (the
// store's StartLane holds a lease on the lane): a run a stopped process
// left running first, then the newest queued run, the older ones
// superseded (without superseding, the oldest first); a run whose desired
// state the lane deployed already is skipped. The run records what it
// converges to (desired before and after), what the lane had deployed and
// the direction (promotion, rollback, redeploy, removal), and templates and
// HOOKD_* variables see them. When a run finishes, its lane's next run is
// woken at once; nothing polls a busy lane.
//
// An attempt renews its lease while it runs. If the lease is taken over it
// stops; if it cannot be renewed (the database is unreachable) it is
// stopped before the lease expires, so that no other process can start an
// overlapping one, and is resumed later with the same idempotency key. An
// outcome is recorded whatever happens meanwhile: FinishRun is retried
// until the database takes it, and is fenced by attempt and holder, so a
// finished deploy is never run again for want of a record. River's timeout
// of a run's job follows its action's ([Engine.RunTimeout]), so River's
// rescuer never hands a long deploy to a second worker while it runs.
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
