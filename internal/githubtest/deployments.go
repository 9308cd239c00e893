package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Deployment is a deployment a client created, with its statuses oldest
// first.
type Deployment struct {
	ID          int64
	SHA         string
	Ref         string
	Task        string
	Environment string
	Description string
	Payload     json.RawMessage
	CreatedAt   time.Time
	Statuses    []DeploymentStatus
}

// DeploymentStatus is one status a client posted on a deployment.
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	Environment    string
	LogURL         string
	EnvironmentURL string
	CreatedAt      time.Time
}

// Deployments returns the deployments created so far, oldest first.
func (s *Server) Deployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Deployment, len(s.deployments))
	for i, d := range s.deployments {
		out[i] = *d
		out[i].Statuses = slices.Clone(d.Statuses)
	}
	return out
}

// WorkflowDispatch is one POST .../actions/workflows/{file}/dispatches.
type WorkflowDispatch struct {
	Workflow string // the file name, such as "deploy.yml"
	Ref      string
	Inputs   map[string]any
}

// WorkflowDispatches returns the workflow dispatches accepted so far.
func (s *Server) WorkflowDispatches() []WorkflowDispatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.workflows)
}

// RepositoryDispatch is one POST .../dispatches.
type RepositoryDispatch struct {
	EventType     string
	ClientPayload json.RawMessage
}

// RepositoryDispatches returns the repository dispatches accepted so far.
func (s *Server) RepositoryDispatches() []RepositoryDispatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.repoEvents)
}

func (s *Server) deploymentJSON(d *Deployment) map[string]any {
	u := s.link(fmt.Sprintf("%s/deployments/%d", s.repoPath(), d.ID))
	return map[string]any{
		"url":                    u,
		"id":                     d.ID,
		"node_id":                nodeID("Deployment", d.ID),
		"sha":                    d.SHA,
		"ref":                    d.Ref,
		"task":                   d.Task,
		"payload":                d.Payload,
		"original_environment":   d.Environment,
		"environment":            d.Environment,
		"description":            d.Description,
		"creator":                s.sender(),
		"created_at":             apiTime(d.CreatedAt),
		"updated_at":             apiTime(d.CreatedAt),
		"statuses_url":           u + "/statuses",
		"repository_url":         s.link(s.repoPath()),
		"transient_environment":  false,
		"production_environment": false,
	}
}

func (s *Server) statusJSON(d *Deployment, st DeploymentStatus) map[string]any {
	du := s.link(fmt.Sprintf("%s/deployments/%d", s.repoPath(), d.ID))
	return map[string]any{
		"url":             fmt.Sprintf("%s/statuses/%d", du, st.ID),
		"id":              st.ID,
		"node_id":         nodeID("DeploymentStatus", st.ID),
		"state":           st.State,
		"creator":         s.sender(),
		"description":     st.Description,
		"environment":     st.Environment,
		"target_url":      st.LogURL,
		"log_url":         st.LogURL,
		"environment_url": st.EnvironmentURL,
		"created_at":      apiTime(st.CreatedAt),
		"updated_at":      apiTime(st.CreatedAt),
		"deployment_url":  du,
		"repository_url":  s.link(s.repoPath()),
	}
}

// createDeployment follows GitHub: the ref must resolve; auto_merge
// (default true) refuses with 409 when the default branch has commits the
// ref lacks, which is why deployers send auto_merge:false.
func (s *Server) createDeployment(r *http.Request, _ map[string]string) (int, any) {
	var in struct {
		Ref              string          `json:"ref"`
		Task             string          `json:"task"`
		AutoMerge        *bool           `json:"auto_merge"`
		RequiredContexts *[]string       `json:"required_contexts"`
		Payload          json.RawMessage `json:"payload"`
		Environment      string          `json:"environment"`
		Description      string          `json:"description"`
	}
	if ok, status, body := decodeBody(r, &in); !ok {
		return status, body
	}
	if in.Ref == "" {
		return missing("ref")
	}
	sha := s.resolveCommit(in.Ref)
	if sha == "" {
		return validation("No ref found for: " + in.Ref)
	}
	if in.AutoMerge == nil || *in.AutoMerge {
		if tip := s.resolveCommit("refs/heads/" + s.opts.DefaultBranch); tip != "" && !s.isAncestor(tip, sha) {
			return http.StatusConflict, apiError(fmt.Sprintf("Conflict merging %s into %s.", s.opts.DefaultBranch, in.Ref))
		}
	}
	d := &Deployment{
		ID: s.newID(), SHA: sha, Ref: in.Ref, Task: in.Task, Environment: in.Environment,
		Description: in.Description, Payload: in.Payload, CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	if d.Task == "" {
		d.Task = "deploy"
	}
	if d.Environment == "" {
		d.Environment = "production"
	}
	if len(d.Payload) == 0 || string(d.Payload) == "null" {
		d.Payload = json.RawMessage("{}")
	}
	s.mu.Lock()
	s.deployments = append(s.deployments, d)
	s.mu.Unlock()
	return http.StatusCreated, s.deploymentJSON(d)
}

// findDeployment returns the deployment named in the path, or nil.
func (s *Server) findDeployment(p map[string]string) *Deployment {
	id, err := strconv.ParseInt(p["deployment_id"], 10, 64)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.deployments {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (s *Server) listDeployments(r *http.Request, _ map[string]string) (int, any) {
	q := r.URL.Query()
	out := []any{}
	for _, d := range slices.Backward(s.Deployments()) { // newest first
		if q.Has("sha") && q.Get("sha") != d.SHA || q.Has("ref") && q.Get("ref") != d.Ref ||
			q.Has("task") && q.Get("task") != d.Task || q.Has("environment") && q.Get("environment") != d.Environment {
			continue
		}
		out = append(out, s.deploymentJSON(&d))
	}
	return http.StatusOK, out
}

func (s *Server) getDeployment(_ *http.Request, p map[string]string) (int, any) {
	d := s.findDeployment(p)
	if d == nil {
		return http.StatusNotFound, notFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return http.StatusOK, s.deploymentJSON(d)
}

var deploymentStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}

// maxStatusDescription is GitHub's limit on a deployment status description.
const maxStatusDescription = 140

func (s *Server) createDeploymentStatus(r *http.Request, p map[string]string) (int, any) {
	d := s.findDeployment(p)
	if d == nil {
		return http.StatusNotFound, notFound
	}
	var in struct {
		State          string `json:"state"`
		LogURL         string `json:"log_url"`
		TargetURL      string `json:"target_url"`
		Description    string `json:"description"`
		Environment    string `json:"environment"`
		EnvironmentURL string `json:"environment_url"`
	}
	if ok, status, body := decodeBody(r, &in); !ok {
		return status, body
	}
	if !slices.Contains(deploymentStates, in.State) {
		return validation(fmt.Sprintf("Invalid request.\n\n%q is not a valid state; it must be one of %s.", in.State, strings.Join(deploymentStates, ", ")))
	}
	if n := len([]rune(in.Description)); n > maxStatusDescription {
		return validation(fmt.Sprintf("Validation Failed: description is too long (maximum is %d characters), got %d", maxStatusDescription, n))
	}
	st := DeploymentStatus{
		ID: s.newID(), State: in.State, Description: in.Description, Environment: in.Environment,
		LogURL: in.LogURL, EnvironmentURL: in.EnvironmentURL, CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	if st.LogURL == "" {
		st.LogURL = in.TargetURL // target_url is the older name of log_url
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.Environment == "" {
		st.Environment = d.Environment
	}
	d.Statuses = append(d.Statuses, st)
	return http.StatusCreated, s.statusJSON(d, st)
}

func (s *Server) listDeploymentStatuses(_ *http.Request, p map[string]string) (int, any) {
	d := s.findDeployment(p)
	if d == nil {
		return http.StatusNotFound, notFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, st := range slices.Backward(d.Statuses) { // newest first
		out = append(out, s.statusJSON(d, st))
	}
	return http.StatusOK, out
}

// createWorkflowDispatch follows GitHub: the ref must exist and the workflow
// file must exist at that ref with a workflow_dispatch trigger.
func (s *Server) createWorkflowDispatch(r *http.Request, p map[string]string) (int, any) {
	var in struct {
		Ref    string         `json:"ref"`
		Inputs map[string]any `json:"inputs"`
	}
	if ok, status, body := decodeBody(r, &in); !ok {
		return status, body
	}
	if in.Ref == "" {
		return missing("ref")
	}
	commit := s.resolveCommit(in.Ref)
	if commit == "" {
		return validation("No ref found for: " + in.Ref)
	}
	workflow, err := s.git("", "cat-file", "blob", commit+":.github/workflows/"+p["workflow_id"])
	if err != nil {
		return http.StatusNotFound, notFound
	}
	if !strings.Contains(workflow, "workflow_dispatch") {
		return validation("Workflow does not have 'workflow_dispatch' trigger")
	}
	s.mu.Lock()
	s.workflows = append(s.workflows, WorkflowDispatch{Workflow: p["workflow_id"], Ref: in.Ref, Inputs: in.Inputs})
	s.mu.Unlock()
	return http.StatusNoContent, nil
}

// maxClientPayloadKeys is GitHub's limit on client_payload's top-level keys.
const maxClientPayloadKeys = 10

func (s *Server) createRepositoryDispatch(r *http.Request, _ map[string]string) (int, any) {
	var in struct {
		EventType     string                     `json:"event_type"`
		ClientPayload map[string]json.RawMessage `json:"client_payload"`
	}
	if ok, status, body := decodeBody(r, &in); !ok {
		return status, body
	}
	if in.EventType == "" || len(in.EventType) > 100 {
		return validation("Invalid request.\n\n\"event_type\" must be 1 to 100 characters.")
	}
	if len(in.ClientPayload) > maxClientPayloadKeys {
		return validation("Invalid request.\n\nNo more than 10 properties are allowed; " + strconv.Itoa(len(in.ClientPayload)) + " were supplied.")
	}
	raw := json.RawMessage("{}")
	if in.ClientPayload != nil {
		raw = encode(in.ClientPayload)
	}
	s.mu.Lock()
	s.repoEvents = append(s.repoEvents, RepositoryDispatch{EventType: in.EventType, ClientPayload: raw})
	s.mu.Unlock()
	return http.StatusNoContent, nil
}
