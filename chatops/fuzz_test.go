package chatops

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds the command grammar whatever a chat user could type.
// Parse never panics; a refusal is a UsageError that says what is wrong;
// a command it accepts is one it knows. And the words Tokenize finds come
// back unchanged when quoted again, so quoting works for any word.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`assign churn-model v1.2.0 prod -m "retrained on March data"`,
		`register churn HEAD --version v1.0.0 --repo acme/models`,
		`register churn --bump minor`, `unassign churn v1.0.0 prod --force`,
		`deregister churn v1.0.0`, `deprecate churn --simple=false`,
		`show churn#prod`, `history`, `help assign`, ``, `   `,
		`assign churn v1 prod -m “typographic quotes”`, `assign "churn" 'v1.0.0' „prod“`,
		`assign churn v1.0.0 prod --message="a b"`, `assign churn v1.0.0 prod -m "unclosed`,
		`assign churn v1.0.0 prod -- --not-a-flag`, `ASSIGN churn v1.0.0 prod`, `don't it’s`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := Parse(text)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) || ue.Msg == "" {
				t.Fatalf("Parse(%q): %v, want a UsageError that says what is wrong", text, err)
			}
			return
		}
		if _, known := syntaxes[cmd.Name]; !known && cmd.Name != "help" {
			t.Fatalf("Parse(%q) accepted the unknown command %q", text, cmd.Name)
		}
		if !utf8.ValidString(text) {
			return
		}
		words, err := Tokenize(text)
		if err != nil {
			t.Fatalf("Parse(%q) succeeded but Tokenize failed: %v", text, err)
		}
		quoted := make([]string, 0, len(words))
		for _, w := range words {
			q := `"`
			if strings.Contains(w, q) {
				q = "'"
			}
			if strings.Contains(w, q) {
				return // no straight quote is free to quote it
			}
			quoted = append(quoted, q+w+q)
		}
		again, err := Tokenize(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("Tokenize(%q) = %q; quoted again it gives %q, %v", text, words, again, err)
		}
	})
}
