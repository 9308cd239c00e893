package deploy

import "time"

// Event is a lifecycle event as actions see it: the context every template
// is executed over and the JSON every action receives. Everything but
// EventID and DeliveryID comes from a tag that anyone with push access
// wrote, so runners treat it as hostile text.
type Event struct {
	EventID    int64  `json:"event_id"`
	DeliveryID string `json:"delivery_id"`
	// Type is registration, deregistration, assignment, unassignment or
	// deprecation.
	Type       string `json:"type"`
	Repository string `json:"repository"`
	Artifact   string `json:"artifact"`
	// Version is the version the event is about; for an assignment of a
	// commit no version was registered at, it is the commit's full hash.
	Version string `json:"version"`
	// Stage is set for assignments and unassignments.
	Stage string `json:"stage"`
	// Previous is the version that was active in Stage before the event
	// ("" if none).
	Previous string `json:"previous"`
	// Cause is the event behind a run of a lane when it is not Type
	// itself: a tag's deletion (tag_deleted), a deregistration or a
	// registration that changed what the stage holds.
	Cause string `json:"cause,omitempty"`
	// DesiredBefore and Desired are what GTO showed for Stage before and
	// after the change the run converges to; Deployed is what the lane
	// had deployed when the run started, and Direction how Desired
	// compares with it (promotion, rollback, redeploy, removal).
	// Redeploy is set when the change re-assigned the version the stage
	// held. All are empty for events without a stage.
	DesiredBefore []string `json:"desired_before,omitempty"`
	Desired       []string `json:"desired,omitempty"`
	Deployed      []string `json:"deployed,omitempty"`
	Direction     string   `json:"direction,omitempty"`
	Redeploy      bool     `json:"redeploy,omitempty"`
	// Events are the events behind a lane run: those of the runs it
	// superseded, then its own.
	Events []int64 `json:"events,omitempty"`

	Commit      string      `json:"commit"`
	Tag         string      `json:"tag"`
	TagObject   string      `json:"tag_object"`
	Tagger      Person      `json:"tagger"`
	Date        time.Time   `json:"date"`
	Message     string      `json:"message"`
	Annotations Annotations `json:"annotations"`
}

// Person is a git identity.
type Person struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Annotations are what the repository's .gto file says about the artifact.
type Annotations struct {
	Type        string   `json:"type"`
	Path        string   `json:"path"`
	Description string   `json:"description"`
	Labels      []string `json:"labels"`
}

// SampleEvent is the event templates are checked against at validation.
// Every field is set, so that a template fails only for a real mistake.
var SampleEvent = Event{
	EventID:       1,
	DeliveryID:    "72d3162e-cc78-11e3-81ab-4c9367dc0958",
	Type:          "assignment",
	Repository:    "acme/models",
	Artifact:      "churn-model",
	Version:       "v1.2.3",
	Stage:         "prod",
	Previous:      "v1.2.2",
	Cause:         "assignment",
	DesiredBefore: []string{"v1.2.2"},
	Desired:       []string{"v1.2.3"},
	Deployed:      []string{"v1.2.2"},
	Direction:     "promotion",
	Events:        []int64{1},
	Commit:        "0123456789abcdef0123456789abcdef01234567",
	Tag:           "churn-model#prod#3",
	TagObject:     "89abcdef0123456789abcdef0123456789abcdef",
	Tagger:        Person{Name: "Jane Doe", Email: "jane@example.com"},
	Date:          time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	Message:       "Assign churn-model v1.2.3 to prod",
	Annotations: Annotations{
		Type:        "model",
		Path:        "models/churn.pkl",
		Description: "Churn prediction model",
		Labels:      []string{"churn"},
	},
}
