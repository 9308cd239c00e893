// Package confval holds the value types hookd's configuration file shares
// between its sections (the daemon's settings and the deploy actions):
// durations as people write them, and secrets that never print.
package confval

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as Go writes it ("90s", "1h30m"),
// with "d" for days ("30d"), since retention is counted in days. It is never
// negative.
type Duration time.Duration

// UnmarshalYAML parses a duration scalar; a bad one is an error naming its
// line, which the config turns into a problem at that line.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode || v < 0 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (e.g. 30s, 10m, 30d)", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// Std is d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Or is d, or def when d is not set.
func (d Duration) Or(def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return time.Duration(d)
}

// Secret is a string that never prints: fmt and slog show it redacted, so a
// configuration dumped into a log does not leak it. Convert with string(s)
// to use it.
type Secret string

// Redacted is what a secret prints as, and what replaces one found in output.
const Redacted = "[redacted]"

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue hides the value from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
