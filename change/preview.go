package change

import (
	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/registry"
)

// Preview plans a write against reg without carrying it out: the tags Do
// would create if the registry were still reg, or the refusal Do would
// answer, in the same words (GTO's rules, the promotion order, the right
// to register that an assignment by ref may need). It does not check the
// principal's scopes for the operation itself, so that a caller can tell
// "not allowed" and "GTO would refuse" apart; Do checks both.
//
// commit is the full sha the request's ref resolves to ("" without a ref).
// repo is the name the API calls the repository by.
func Preview(reg *registry.Registry, r Repository, p access.Principal, repo string, op access.Operation, req Request, commit string) (registry.Plan, error) {
	if !op.Write() {
		return registry.Plan{}, inputf("%s is not a write", op)
	}
	if err := req.Check(op); err != nil {
		return registry.Plan{}, err
	}
	plan := plans(r, op, req, commit)
	if op == access.Assign {
		plan = registrationAllowed(plan, p, repo)
	}
	pl, err := plan(reg)
	if err != nil {
		return registry.Plan{}, err
	}
	return pl, nil
}
