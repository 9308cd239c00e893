package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds the loader any file. It never panics; a file it refuses
// comes back as Problems, each with a message and a line inside the file
// (or 0 when it has no single place); a file it accepts has a secret for
// every repository, since hookd never accepts unsigned deliveries.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile("hookd.example.yaml"); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		"", "listen: 127.0.0.1:8080\n", "repositories:\n  - github: acme/models\n    secret: s\n",
		"repositories:\n  - path: /srv/git/models.git\n    secret: ${HOOKD_FUZZ_UNSET}\n",
		"repositories:\n  - github: acme/models\n    secret: s\n    colour: blue\n",
		"retention:\n  raw_payloads: 30d\nlog: {level: debug, format: json}\n",
		"tokens:\n  - name: ops\n    sha256: " + strings.Repeat("ab", 32) + "\n    scopes: [{repositories: '*', operations: [read]}]\n",
		"actions:\n  - name: a\n    on: {event: [assignment]}\n    exec: {command: [./deploy.sh, '{{.Artifact}}']}\n",
		"listen: [\n", "- a\n", "a: &x [*x]\n", "\xff\xfe: 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("hookd.yaml", data)
		if err != nil {
			var p *Problems
			if !errors.As(err, &p) || len(p.List) == 0 {
				t.Fatalf("Parse: %v, want Problems", err)
			}
			// YAML breaks lines at \n, \r\n and a lone \r.
			lines := strings.Count(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") + strings.Count(string(data), "\r") - strings.Count(string(data), "\r\n") + 1
			for _, q := range p.List {
				if q.Message == "" || q.Line < 0 || q.Line > lines {
					t.Fatalf("problem %+v of a file of %d lines", q, lines)
				}
			}
			return
		}
		for _, r := range cfg.Repositories {
			if r.Secret == "" {
				t.Fatalf("accepted repository %s without a secret", r.Name())
			}
		}
	})
}
