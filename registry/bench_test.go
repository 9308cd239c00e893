package registry_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/registry"
)

// benchTags is a registry at the size hookd is built for: 10,000 tags over
// 50 artifacts, each artifact registering versions on its own commits and
// moving them through stages, with deregistrations, unassignments, and
// assignments of one unregistered commit (GTO's discovered versions).
func benchTags() ([]registry.Tag, registry.CommitMap) {
	const artifacts, perArtifact = 50, 200
	var tags []registry.Tag
	commits := registry.CommitMap{}
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	tagger := registry.Person{Name: "CI", Email: "ci@example.com"}
	stages := []string{"dev", "staging", "prod"}
	n := 0
	for a := range artifacts {
		name := fmt.Sprintf("team/model-%02d", a)
		counter := 0
		for i := 0; i < perArtifact; i++ {
			v := i / 4
			sha := fmt.Sprintf("%02x%038x", a, v)
			var tag string
			switch i % 4 {
			case 0:
				tag = fmt.Sprintf("%s@v1.%d.0", name, v)
				commits[sha] = registry.Commit{Hash: sha, CommitDate: start, Message: "train\n"}
			case 1, 2:
				counter++
				tag = fmt.Sprintf("%s#%s#%d", name, stages[(v+i)%3], counter)
				if v%7 == 0 {
					sha = fmt.Sprintf("%02x%038x", a, 999)
					commits[sha] = registry.Commit{Hash: sha, CommitDate: start, Message: "experiment\n"}
				}
			case 3:
				counter++
				if v%5 == 0 {
					tag = fmt.Sprintf("%s@v1.%d.0!#%d", name, v, counter)
				} else {
					tag = fmt.Sprintf("%s#%s!#%d", name, stages[(v+1)%3], counter)
				}
			}
			n++
			tags = append(tags, registry.Tag{
				Name: tag, Annotated: true, Commit: sha, Tagger: tagger,
				Date: start.Add(time.Duration(n) * time.Minute), Message: "tag\n",
			})
		}
	}
	return tags, commits
}

func BenchmarkNew(b *testing.B) {
	tags, commits := benchTags()
	if len(tags) != 10000 {
		b.Fatalf("%d tags", len(tags))
	}
	b.ReportAllocs()
	for b.Loop() {
		registry.New(tags, registry.Options{Commits: commits.Get})
	}
}

func BenchmarkShow(b *testing.B) {
	tags, commits := benchTags()
	reg := registry.New(tags, registry.Options{Commits: commits.Get})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Show(registry.DefaultShowOptions()); err != nil {
			b.Fatal(err)
		}
	}
}
