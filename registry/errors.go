package registry

import "fmt"

// RuleError is a request GTO refuses because of the registry's state: the
// version is already registered, already in the stage, deprecated
// already... An API answers it with 409 Conflict.
type RuleError struct{ Msg string }

func (e *RuleError) Error() string { return e.Msg }

// InputError is a malformed request: an invalid name, version or stage, a
// stage `.gto` does not allow, contradictory options. An API answers it with
// 422 Unprocessable Entity.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// NotFoundError is a request naming an artifact or version that does not
// exist. An API answers it with 404 Not Found.
type NotFoundError struct{ Msg string }

func (e *NotFoundError) Error() string { return e.Msg }

func ruleErrorf(format string, args ...any) error {
	return &RuleError{fmt.Sprintf(format, args...)}
}

func inputErrorf(format string, args ...any) error {
	return &InputError{fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return &NotFoundError{fmt.Sprintf(format, args...)}
}

// StateError is GTO refusing to build a repository's registry at all: a
// malformed artifacts.yaml, two versions registered at the commit an
// assignment points to, a tag object whose name is not GTO's. Every command
// that reads the state fails with it.
type StateError struct{ Msg string }

func (e *StateError) Error() string { return e.Msg }

// Unwrap makes a StateError a RuleError too: an API answers it with 409.
func (e *StateError) Unwrap() error { return &RuleError{e.Msg} }

// errManyVersions is GTO's ManyVersions, naming the versions found at one
// commit in the order they were created.
func errManyVersions(artifact string, vs []*Version) error {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name
	}
	return ruleErrorf("Multiple versions are not allowed on the same Git commit. Violation detected for artifact '%s', versions '%s'.",
		artifact, pyList(names))
}

// RefNotFound is GTO's refusal of a ref that names no commit, for callers
// that resolve refs before planning.
func RefNotFound(ref string) error {
	return notFoundf("Ref '%s' was not found in the repository history", ref)
}

// errArtifactNotFound is GTO's ArtifactNotFound.
func errArtifactNotFound(name string) error {
	return notFoundf("Cannot find artifact '%s'", name)
}

// errInvalidValue is GTO's refusal of a malformed artifact, stage or type
// name.
func errInvalidValue(value string) error {
	return inputErrorf("Invalid value '%s'. Only letters, numbers, '_', '-', '/' are allowed."+
		" Value must be of len >= 2 and must start and end with a letter or a number.", value)
}
