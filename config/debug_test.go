package config

import "testing"

// debug_listen without a host means loopback, never every interface.
func TestDebugListen(t *testing.T) {
	for src, want := range map[string]string{
		"":                               "",
		"debug_listen: 6060\n":           "127.0.0.1:6060",
		"debug_listen: \":6060\"\n":      "127.0.0.1:6060",
		"debug_listen: 10.0.0.5:6060\n":  "10.0.0.5:6060",
		"debug_listen: \"[::1]:6060\"\n": "[::1]:6060",
		"debug_listen: localhost:6060\n": "localhost:6060",
	} {
		cfg, err := Parse("hookd.yaml", []byte(src))
		if err != nil {
			t.Errorf("%q: %v", src, err)
			continue
		}
		if cfg.DebugListen != want {
			t.Errorf("%q: debug_listen %q, want %q", src, cfg.DebugListen, want)
		}
	}
	wantProblem(t, "debug_listen: nowhere\n", 1, "is not host:port")
	wantProblem(t, "listen: 127.0.0.1:8080\ndebug_listen: \":8080\"\n", 2, "is the listen address")
}

// max_concurrent_runs defaults to DefaultMaxConcurrentRuns and must be a
// sane count.
func TestMaxConcurrentRuns(t *testing.T) {
	for src, want := range map[string]int{"": DefaultMaxConcurrentRuns, "max_concurrent_runs: 4\n": 4} {
		cfg, err := Parse("hookd.yaml", []byte(src))
		if err != nil || cfg.MaxConcurrentRuns != want {
			t.Errorf("%q: %d, %v; want %d", src, cfg.MaxConcurrentRuns, err, want)
		}
	}
	wantProblem(t, "max_concurrent_runs: 0\n", 1, "max_concurrent_runs: 0 is not between 1 and 1024")
	wantProblem(t, "\nmax_concurrent_runs: 5000\n", 2, "is not between 1 and 1024")
}
