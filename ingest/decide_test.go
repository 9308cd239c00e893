package ingest

import (
	"fmt"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/registry"
)

// registryTags is a registry of n tags over artifacts artifacts: each
// artifact registers versions and moves them through three stages.
func registryTags(n, artifacts int, start time.Time) []registry.Tag {
	stages := []string{"dev", "staging", "prod"}
	tagger := registry.Person{Name: "CI", Email: "ci@example.com"}
	var out []registry.Tag
	for i := range n {
		a, k := i%artifacts, i/artifacts
		name := fmt.Sprintf("team/model-%02d", a)
		v := k / 2
		commit := fmt.Sprintf("%02x%038x", a, v)
		tag := fmt.Sprintf("%s@v1.%d.0", name, v)
		if k%2 == 1 {
			tag = fmt.Sprintf("%s#%s#%d", name, stages[v%3], k)
		}
		out = append(out, registry.Tag{Name: tag, Annotated: true, Object: fmt.Sprintf("%040x", i+1), Commit: commit,
			Tagger: tagger, Date: start.Add(time.Duration(i) * time.Second), Message: "tag\n"})
	}
	return out
}

// Deciding the events of a burst of new tags costs the registries of the
// artifacts they touch, not the whole repository's: 200 new tags on a
// repository of 5,000.
//
//	go test -run '^$' -bench DecideNewTags -benchtime 20x ./ingest
func BenchmarkDecideNewTags(b *testing.B) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	all := registryTags(5200, 50, start)
	stored, fresh := all[:5000], all[5000:]
	c := change{repository: "acme/models", announced: map[string]bool{}}
	b.ReportAllocs()
	for b.Loop() {
		current := newTagSet(len(all))
		for _, t := range stored {
			current.put(t)
		}
		events := 0
		for _, t := range fresh {
			events += len(c.apply(current, t, false))
		}
		if events != len(fresh) {
			b.Fatalf("%d events for %d new GTO tags", events, len(fresh))
		}
	}
}

// Every stage of the artifact whose versions an event moves is in its
// Stages, the event's own stage always, and nothing else.
func TestEventsCarryTheStagesTheyMoved(t *testing.T) {
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	tag := func(name, commit string) registry.Tag {
		n++
		return registry.Tag{Name: name, Annotated: true, Object: fmt.Sprintf("%040x", n), Commit: commit,
			Tagger: registry.Person{Name: "CI"}, Date: at.Add(time.Duration(n) * time.Minute)}
	}
	c1, c2 := fmt.Sprintf("%040d", 1), fmt.Sprintf("%040d", 2)
	current := newTagSet(0)
	c := change{repository: "acme/models", announced: map[string]bool{}}
	for _, t := range []registry.Tag{
		tag("m@v1.0.0", c1), tag("m@v1.1.0", c2), tag("m#prod#1", c1), tag("m#staging#2", c2), tag("m#prod#3", c2),
		tag("other@v1.0.0", c1),
	} {
		c.apply(current, t, false)
	}
	// A late assignment of the older version: prod keeps v1.1.0, the
	// event names only its own, unchanged, stage.
	late := tag("m#prod#4", c1)
	late.Date = at // older than everything
	evs := c.apply(current, late, false)
	if len(evs) != 1 || fmt.Sprint(evs[0].Stages) != "[{prod [v1.1.0] [v1.1.0]}]" {
		t.Errorf("late assignment: %+v", evs)
	}
	// Deregistering v1.1.0 moves both stages that held it.
	evs = c.apply(current, tag("m@v1.1.0!#5", c2), false)
	if len(evs) != 1 || fmt.Sprint(evs[0].Stages) != "[{prod [v1.1.0] [v1.0.0]} {staging [v1.1.0] []}]" {
		t.Errorf("deregistration: %+v", evs[0].Stages)
	}
	// Deleting the newest prod assignment gives prod back its previous one.
	current = newTagSet(0)
	for _, t := range []registry.Tag{tag("m@v1.0.0", c1), tag("m@v1.1.0", c2), tag("m#prod#1", c1)} {
		c.apply(current, t, false)
	}
	newest := tag("m#prod#2", c2)
	c.apply(current, newest, false)
	evs = c.apply(current, newest, true)
	if len(evs) != 1 || evs[0].Type != "tag_deleted" || fmt.Sprint(evs[0].Stages) != "[{prod [v1.1.0] [v1.0.0]}]" {
		t.Errorf("deletion: %+v", evs)
	}
}
