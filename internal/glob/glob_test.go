package glob

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pat, s string
		want   bool
	}{
		{"churn-*", "churn-model", true},
		{"churn-*", "churn-", true},
		{"churn-*", "church", false},
		{"*", "", true},
		{"acme/*", "acme/models", true},
		{"*/models", "acme/models", true},
		{"*", "dir/sub:name", true}, // '*' crosses '/'
		{"prod", "production", false},
		{"st?ge", "stage", true},
		{"st?ge", "stge", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
	} {
		if got := Match(c.pat, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pat, c.s, got, c.want)
		}
	}
}

// A pattern of many stars against a long near miss must not backtrack
// exponentially.
func TestMatchLinear(t *testing.T) {
	pat := strings.Repeat("a*", 30) + "b"
	if Match(pat, strings.Repeat("a", 5000)) {
		t.Error("matched without the b")
	}
}

func TestPatterns(t *testing.T) {
	if !(Patterns{}).Match("anything") {
		t.Error("no patterns match everything")
	}
	p := Patterns{"dev", "staging"}
	if !p.Match("staging") || p.Match("prod") {
		t.Error("a list matches when one entry does")
	}
}
