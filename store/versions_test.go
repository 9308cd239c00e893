package store

import (
	"encoding/json"
	"slices"
	"testing"
)

// versions reads what versionsJSON wrote, for lists of any length and
// versions with characters JSON escapes, as encoding/json would.
func TestVersionsReadsWhatWasWritten(t *testing.T) {
	for _, v := range [][]string{
		nil, {"v1.0.0"}, {"v1.0.0", "v1.1.0"}, {`a"b`}, {`a\b`}, {"<&>"}, {"tab\there"}, {"é-ü"},
		{"\u2028"}, {"\ufffd"}, {"bad \xff byte"}, {""}, {"[]"},
	} {
		text := versionsJSON(v)
		got, err := versions(text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		var want []string
		if err := json.Unmarshal([]byte(text), &want); err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("versions(%q) = %q, want %q", text, got, want)
		}
	}
	if _, err := versions(`["unterminated`); err == nil {
		t.Error("a broken list was read without error")
	}
}
