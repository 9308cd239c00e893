package change

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/registry"
)

// Request is one write, with the options of the gto command of the same
// name. Which fields apply depends on the operation (see [Request.Check]).
type Request struct {
	Artifact string `json:"artifact"`
	// Version names an existing version (assign, unassign, deregister), or
	// the version to register (register).
	Version string `json:"version,omitempty"`
	// Ref is a git reference (branch, tag, sha) instead of Version: the
	// commit whose version is meant, or where to register or deprecate.
	// Register defaults to the default branch's head.
	Ref   string `json:"ref,omitempty"`
	Stage string `json:"stage,omitempty"`
	// NameVersion (assign with Ref) names the version registered at Ref
	// when none is; otherwise the next version is picked.
	NameVersion string `json:"name_version,omitempty"`
	// Bump (register without Version): major, minor or patch (default).
	Bump             string `json:"bump,omitempty"`
	Message          string `json:"message,omitempty"`
	Simple           Simple `json:"simple,omitempty"`
	Force            bool   `json:"force,omitempty"`
	SkipRegistration bool   `json:"skip_registration,omitempty"`
}

// Simple is gto's --simple: "auto" (the default), "true" or "false"; JSON
// also takes true and false.
type Simple registry.Simple

// UnmarshalJSON accepts "auto", "true", "false", true and false; null, as
// for any other field, leaves the value as it is.
func (s *Simple) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	switch strings.Trim(string(b), `"`) {
	case "auto", "":
		*s = Simple(registry.SimpleAuto)
	case "true":
		*s = Simple(registry.SimpleTrue)
	case "false":
		*s = Simple(registry.SimpleFalse)
	default:
		return fmt.Errorf("simple must be auto, true or false, not %s", b)
	}
	return nil
}

// MarshalJSON writes "auto", "true" or "false".
func (s Simple) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s Simple) String() string { return [...]string{"auto", "true", "false"}[s] }

// fields lists, per operation, the request fields that apply to it.
var fields = map[access.Operation][]string{
	access.Register:   {"version", "ref", "bump", "message", "simple", "force"},
	access.Assign:     {"stage", "version", "ref", "name_version", "skip_registration", "message", "simple", "force"},
	access.Unassign:   {"stage", "version", "ref", "message", "simple", "force"},
	access.Deregister: {"version", "ref", "message", "simple", "force"},
	access.Deprecate:  {"ref", "message", "simple", "force"},
}

// set names the request's fields that are set.
func (r Request) set() map[string]bool {
	return map[string]bool{
		"version": r.Version != "", "ref": r.Ref != "", "stage": r.Stage != "",
		"name_version": r.NameVersion != "", "bump": r.Bump != "", "message": true,
		"simple": true, "force": true, "skip_registration": r.SkipRegistration,
	}
}

var bumps = regexp.MustCompile(`^(major|minor|patch)$`)

// Check returns an *InputError when the request is malformed for op: a
// field that does not apply, a missing or contradictory one. Names,
// versions and stages are checked by the registry, with GTO's words.
func (r Request) Check(op access.Operation) error {
	allowed, ok := fields[op]
	if !ok {
		return inputf("%q is not an operation; use one of register, assign, unassign, deregister, deprecate", op)
	}
	if r.Artifact == "" {
		return inputf("artifact is required")
	}
	for name, isSet := range r.set() {
		if isSet && !slices.Contains(allowed, name) {
			return inputf("%s does not apply to %s", name, op)
		}
	}
	switch op {
	case access.Assign, access.Unassign:
		if r.Stage == "" {
			return inputf("stage is required")
		}
		fallthrough
	case access.Deregister:
		if (r.Version == "") == (r.Ref == "") {
			return inputf("give version or ref, one of them")
		}
		if r.NameVersion != "" && r.Ref == "" {
			return inputf("name_version names the version registered at ref; give ref")
		}
	case access.Register:
		if r.Version != "" && r.Bump != "" {
			return inputf("give version or bump, not both")
		}
		if r.Bump != "" && !bumps.MatchString(r.Bump) {
			return inputf("bump must be major, minor or patch")
		}
	}
	return nil
}

// InputError is a malformed request. An API answers it with 422.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func inputf(format string, args ...any) error {
	return &InputError{fmt.Sprintf(format, args...)}
}

// Plan returns what plans the request (as op) against the registry as it
// is at each attempt; commit is the full sha its ref resolved to ("" when
// it has none). With del, unassign, deregister and deprecate plan the
// deletion of their tags instead (gto's --delete, for a local repository).
// The promotion order is the Service's, not the plan's.
func (r Request) Plan(op access.Operation, commit string, del bool) func(*registry.Registry) (registry.Plan, error) {
	return r.plan(op, commit, "", del)
}

// PlanUnknownRef is Plan for a request whose ref names no commit: it is
// refused with the words of the first of GTO's checks that fails, those
// that come before GTO resolves the ref included, and otherwise with GTO's
// refusal of the ref itself ("unknown Git revision").
func (r Request) PlanUnknownRef(op access.Operation, del bool) func(*registry.Registry) (registry.Plan, error) {
	return r.plan(op, "", cmp.Or(r.Ref, "HEAD"), del)
}

func (r Request) plan(op access.Operation, commit, unknown string, del bool) func(*registry.Registry) (registry.Plan, error) {
	simple := registry.Simple(r.Simple)
	switch op {
	case access.Register:
		req := registry.RegisterRequest{Artifact: r.Artifact, Commit: commit, UnknownRef: unknown, Version: r.Version,
			BumpMajor: r.Bump == "major", BumpMinor: r.Bump == "minor", BumpPatch: r.Bump == "patch",
			Message: r.Message, Simple: simple, Force: r.Force}
		return func(reg *registry.Registry) (registry.Plan, error) { return reg.PlanRegister(req) }
	case access.Assign:
		req := registry.AssignRequest{Artifact: r.Artifact, Stage: r.Stage, Version: r.Version, Commit: commit, UnknownRef: unknown,
			NameVersion: r.NameVersion, SkipRegistration: r.SkipRegistration,
			Message: r.Message, Simple: simple, Force: r.Force}
		return func(reg *registry.Registry) (registry.Plan, error) { return reg.PlanAssign(req) }
	case access.Unassign:
		req := registry.UnassignRequest{Artifact: r.Artifact, Stage: r.Stage, Version: r.Version, Commit: commit, UnknownRef: unknown,
			Message: r.Message, Simple: simple, Force: r.Force, Delete: del}
		return func(reg *registry.Registry) (registry.Plan, error) { return reg.PlanUnassign(req) }
	case access.Deregister:
		req := registry.DeregisterRequest{Artifact: r.Artifact, Version: r.Version, Commit: commit, UnknownRef: unknown,
			Message: r.Message, Simple: simple, Force: r.Force, Delete: del}
		return func(reg *registry.Registry) (registry.Plan, error) { return reg.PlanDeregister(req) }
	case access.Deprecate:
		req := registry.DeprecateRequest{Artifact: r.Artifact, Commit: commit, UnknownRef: unknown,
			Message: r.Message, Simple: simple, Force: r.Force, Delete: del}
		return func(reg *registry.Registry) (registry.Plan, error) { return reg.PlanDeprecate(req) }
	}
	return func(*registry.Registry) (registry.Plan, error) {
		return registry.Plan{}, inputf("%q is not a write", op)
	}
}
