package source

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hookd-dev/hookd/registry"
)

// Plan decides which tags to create, given the registry as the repository
// has it right now (see [Load]), even one GTO refuses to read: a plan must
// then return reg.Err() unless GTO would write without reading the state,
// as the registry's Plan methods do. It is called again after each lost race,
// so it must derive everything that depends on the registry (counters,
// versions, whether the action is still valid) from reg and nothing cached.
// Returning an error stops Write with that error, and nothing more is
// created.
type Plan func(reg *registry.Registry) ([]NewTag, error)

// MaxWriteAttempts bounds how many times Write re-plans after losing a
// race. Each lost race means another writer created a tag, so a writer can
// only starve while others keep succeeding; the bound turns a pathological
// stream of competitors into an error instead of an endless loop.
const MaxWriteAttempts = 64

// ErrContention is returned when every attempt lost a race to another
// writer.
var ErrContention = errors.New("gave up after too many concurrent writers took the planned tag names")

// Write creates the tags plan asks for, in order, and returns them.
//
// Tag names carry counters derived from the tags that exist (GTO's "#N"), so
// two writers planning at the same time pick the same name and one of them
// gets ErrTagExists. Write answers that by listing the tags again and asking
// plan anew: the new plan sees the winner's tag and picks the next counter,
// or fails if the action no longer makes sense (the version is already in
// the stage, say). Tags created before the collision stay; the new plan sees
// them too and does not plan them again, which is how a registration made on
// the way to an assignment is not repeated.
func Write(ctx context.Context, src Source, plan Plan) ([]registry.Tag, error) {
	var created []registry.Tag
	var taken string // the name the last attempt lost on
	for attempt := 0; attempt < MaxWriteAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return created, err
			}
		}
		// A registry GTO refuses is planned against all the same: GTO
		// checks a request's arguments first, and a registry plan
		// refuses with reg.Err() where GTO reads the state.
		reg, err := Load(ctx, src)
		var refused *registry.StateError
		if err != nil && (reg == nil || !errors.As(err, &refused)) {
			return created, err
		}
		planned, err := plan(reg)
		if err != nil {
			return created, err
		}
		lost := false
		for _, nt := range planned {
			if nt.Name == taken {
				// The plan saw the tag and still wants it: no counter
				// moves it on, so retrying cannot succeed.
				return created, fmt.Errorf("tag %q: %w", nt.Name, ErrTagExists)
			}
			t, err := src.CreateTag(ctx, nt)
			if errors.Is(err, ErrTagExists) {
				lost, taken = true, nt.Name
				break
			}
			if err != nil {
				return created, fmt.Errorf("create tag %q: %w", nt.Name, err)
			}
			created = append(created, t)
		}
		if !lost {
			return created, nil
		}
	}
	return created, ErrContention
}

// backoff waits a little before re-planning, with jitter, so that writers
// who collided do not collide again in lockstep.
func backoff(ctx context.Context, attempt int) error {
	limit := time.Duration(min(attempt, 8)) * 5 * time.Millisecond
	d := time.Duration(rand.Int64N(int64(limit) + 1))
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// NewTags turns the tags a registry plan creates into what Write creates,
// all by tagger (zero: the source's identity).
func NewTags(p registry.Plan, tagger registry.Person) []NewTag {
	tags := make([]NewTag, len(p.Create))
	for i, t := range p.Create {
		tags[i] = NewTag{Name: t.Name, Commit: t.Commit, Message: t.Message, Tagger: tagger}
	}
	return tags
}

// WritePlan is [Write] for GTO's plans: it creates the tags plan asks for,
// tagged by tagger (zero: the source's identity), and returns them with
// gto's line for each, in order, also when a later step failed (the tags
// exist, and whoever asked must hear of them). edit, when set, may change
// each tag before it is created.
func WritePlan(ctx context.Context, src Source, plan func(*registry.Registry) (registry.Plan, error),
	tagger registry.Person, edit func(*NewTag)) ([]registry.Tag, []string, error) {
	// Every attempt's lines, by tag: a retry may create some tags in one
	// attempt and the rest in the next.
	lines := make(map[string]string)
	created, err := Write(ctx, src, func(reg *registry.Registry) ([]NewTag, error) {
		p, err := plan(reg)
		if err != nil {
			return nil, err
		}
		for i, t := range p.Create {
			if i < len(p.Output) {
				lines[t.Name] = p.Output[i]
			}
		}
		tags := NewTags(p, tagger)
		if edit != nil {
			for i := range tags {
				edit(&tags[i])
			}
		}
		return tags, nil
	})
	output := make([]string, len(created))
	for i, t := range created {
		output[i] = lines[t.Name]
	}
	return created, output, err
}
