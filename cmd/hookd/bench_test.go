package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkShowJSON10000Tags runs `hookd show --json`, process and all, on
// the registry internal/genrepo builds (10,000 tags, 50 artifacts): the
// figure docs/BENCHMARKS.md reports.
//
//	go test -run '^$' -bench ShowJSON ./cmd/hookd
func BenchmarkShowJSON10000Tags(b *testing.B) {
	env := gitEnv(b)
	dir := filepath.Join(b.TempDir(), "registry")
	// go run keeps the user's environment, and with it the build cache.
	gen := exec.Command("go", "run", "../../internal/genrepo", "-tags", "10000", "-artifacts", "50", dir)
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("genrepo: %v\n%s", err, out)
	}
	for b.Loop() {
		cmd := exec.Command(hookdBin, "show", "--json")
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("hookd show: %v\n%s", err, out)
		}
	}
}
