package client

import (
	"encoding/json"
	"time"
)

// The answers and requests of /api/v1, one type per schema of the OpenAPI
// document (GET /api/v1/openapi.json), with its field names. The registry
// reads answer in GTO's shapes, package registry's types.

// Tagger is who created a tag, and when (RFC 3339 with the tagger's UTC
// offset, as GTO prints it).
type Tagger struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Date  string `json:"date"`
}

// Event is a GTO event hookd recorded for a tag. ActiveBefore and
// ActiveAfter are the versions the stage held around it.
type Event struct {
	ID         int64  `json:"id"`
	Repository string `json:"repository"`
	Artifact   string `json:"artifact"`
	// Type is registration, deregistration, assignment, unassignment,
	// deprecation or tag_deleted.
	Type      string `json:"type"`
	Version   string `json:"version,omitempty"`
	Stage     string `json:"stage,omitempty"`
	Commit    string `json:"commit"`
	Tag       string `json:"tag"`
	TagObject string `json:"tag_object"`
	Tagger    Tagger `json:"tagger"`
	Message   string `json:"message"`
	// DeliveryID is the delivery that announced the tag; empty when a
	// listing found it.
	DeliveryID   string   `json:"delivery_id,omitempty"`
	ActiveBefore []string `json:"active_before"`
	ActiveAfter  []string `json:"active_after"`
	// Stages are every stage of the artifact whose versions the event
	// changed, before and after; deploys follow these.
	Stages     []StageChange `json:"stages"`
	RecordedAt time.Time     `json:"recorded_at"`
}

// Delivery is a webhook or post-receive delivery hookd received.
type Delivery struct {
	ID         string `json:"id"`
	Source     string `json:"source"` // github or git
	Event      string `json:"event"`
	Repository string `json:"repository"`
	// Status is queued, processed, ignored or failed; Reason says why.
	Status        string    `json:"status"`
	Reason        string    `json:"reason,omitempty"`
	ReceivedAt    time.Time `json:"received_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	PayloadPruned bool      `json:"payload_pruned"`
	// Attempts, LastError and NextAttemptAt say why a queued delivery
	// waits (GitHub unreachable, rate limited) and until when.
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	// Payload is the delivery's JSON, in Delivery's answer only.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Attempt is one try at a run.
type Attempt struct {
	Number     int        `json:"number"`
	Holder     string     `json:"holder"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	ExitCode   *int       `json:"exit_code"`
	OutputTail string     `json:"output_tail"`
	Error      string     `json:"error,omitempty"`
}

// Run is one deploy action's run for an event.
type Run struct {
	ID             int64  `json:"id"`
	EventID        int64  `json:"event_id"`
	Action         string `json:"action"`
	Repository     string `json:"repository"`
	Artifact       string `json:"artifact"`
	Stage          string `json:"stage,omitempty"`
	IdempotencyKey string `json:"idempotency_key"`
	// Status is queued, running, succeeded, failed or superseded.
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	// History is filled in Run's answer only.
	History   []Attempt `json:"history,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// A lane run (Stage set) converges an environment on what GTO shows.
	// Trigger is how it reads to actions: assignment (the stage holds a
	// version it did not, or a redeploy was asked) or unassignment (it
	// lost one); Version is the version it deploys (or the one lost).
	Trigger string `json:"trigger,omitempty"`
	Version string `json:"version,omitempty"`
	// DesiredBefore and Desired are the stage's versions before and after
	// the change; DeployedBefore is what the lane had deployed when the
	// run started, and Direction how Desired compares with it
	// (promotion, rollback, redeploy, removal).
	DesiredBefore  []string `json:"desired_before,omitempty"`
	Desired        []string `json:"desired,omitempty"`
	DeployedBefore []string `json:"deployed_before,omitempty"`
	Direction      string   `json:"direction,omitempty"`
	Redeploy       bool     `json:"redeploy,omitempty"`
	// SupersededBy is the run that made this one moot; Note says why a
	// run was skipped.
	SupersededBy int64  `json:"superseded_by,omitempty"`
	Note         string `json:"note,omitempty"`
}

// AuditEntry is one write someone asked for, and how it ended.
type AuditEntry struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Principal  string    `json:"principal"`
	Via        string    `json:"via"` // api, slack or command
	Repository string    `json:"repository"`
	Operation  string    `json:"operation"`
	Artifact   string    `json:"artifact"`
	Version    string    `json:"version"`
	Stage      string    `json:"stage"`
	// Request is the request as received (null if it was not JSON).
	Request json.RawMessage `json:"request"`
	Status  int             `json:"status"`
	Tags    []string        `json:"tags"`
	Error   string          `json:"error"`
}

// WriteRequest is one write, with the options of the gto command of the
// same name; a field that does not apply to the operation is refused
// (422). Register takes Version, Ref, Bump; Assign Stage, Version or Ref,
// NameVersion, SkipRegistration; Unassign Stage, Version or Ref;
// Deregister Version or Ref; Deprecate Ref; all take Message, Simple and
// Force.
type WriteRequest struct {
	// Artifact is the artifact; dir:name for one in a monorepo folder.
	Artifact string `json:"artifact"`
	Version  string `json:"version,omitempty"`
	// Ref is a git reference instead of Version. Register defaults to the
	// head of the default branch.
	Ref   string `json:"ref,omitempty"`
	Stage string `json:"stage,omitempty"`
	// NameVersion (Assign with Ref) is the version to register at Ref
	// when none is.
	NameVersion string `json:"name_version,omitempty"`
	// Bump is major, minor or patch (Register without Version).
	Bump    string `json:"bump,omitempty"`
	Message string `json:"message,omitempty"`
	// Simple is gto's --simple: "auto" (the default), "true" or "false".
	Simple string `json:"simple,omitempty"`
	// Force is gto's --force; it also enters a stage out of the
	// repository's promotion order. The token needs a scope with force.
	Force            bool `json:"force,omitempty"`
	SkipRegistration bool `json:"skip_registration,omitempty"`
}

// WriteResult is a write's answer.
type WriteResult struct {
	// Tags are the created tags, in order; each message is GTO's, then a
	// Requested-by: trailer naming the token.
	Tags []string `json:"tags"`
	// Output is what gto prints for each tag.
	Output []string `json:"output"`
	// Events are the events the tags caused, as recorded; empty when they
	// could not be recorded in time (the webhook or the re-listing records
	// them later).
	Events []Event `json:"events"`
}

// CommandRequest is a chat command for POST /api/v1/command.
type CommandRequest struct {
	// Text is the command as typed in chat: "assign NAME VERSION STAGE".
	Text string `json:"text"`
	// Repository is owner/name; default the chat configuration's.
	Repository string `json:"repository,omitempty"`
}

// CommandReply is a command's answer: every command read and run is
// answered, whether it succeeded or not.
type CommandReply struct {
	OK   bool     `json:"ok"`
	Text string   `json:"text"`
	Tags []string `json:"tags"`
	// Error is the failure's error code (forbidden, conflict, ...), or
	// usage for text that is not a command.
	Error string `json:"error,omitempty"`
}

// StageChange is one stage's versions before and after an event.
type StageChange struct {
	Stage  string   `json:"stage"`
	Before []string `json:"before"`
	After  []string `json:"after"`
}

// Lane is an environment: one action deploying one artifact's stage of one
// repository, with what GTO shows for the stage (Desired) beside what the
// action's last successful run delivered (Deployed).
type Lane struct {
	Repository     string     `json:"repository"`
	Artifact       string     `json:"artifact"`
	Stage          string     `json:"stage"`
	Action         string     `json:"action"`
	Desired        []string   `json:"desired"`
	DesiredEventID int64      `json:"desired_event_id"`
	Deployed       []string   `json:"deployed"`
	DeployedRunID  int64      `json:"deployed_run_id,omitempty"`
	DeployedAt     *time.Time `json:"deployed_at,omitempty"`
	InSync         bool       `json:"in_sync"`
	UpdatedAt      time.Time  `json:"updated_at"`
}
