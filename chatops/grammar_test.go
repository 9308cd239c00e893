package chatops_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/change"
	"github.com/hookd-dev/hookd/chatops"
	"github.com/hookd-dev/hookd/registry"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"", nil},
		{"   \t ", nil},
		{"assign  churn-model\tv1.2.0 prod", []string{"assign", "churn-model", "v1.2.0", "prod"}},
		{`-m "two words"`, []string{"-m", "two words"}},
		{`-m 'two words'`, []string{"-m", "two words"}},
		{`-m “typographic quotes”`, []string{"-m", "typographic quotes"}},
		{`-m ”same mark both ends”`, []string{"-m", "same mark both ends"}},
		{`-m “opened and closed alike“`, []string{"-m", "opened and closed alike"}},
		{`-m ‘single typographic’`, []string{"-m", "single typographic"}},
		{`-m „German style“`, []string{"-m", "German style"}},
		{`-m "it's fine"`, []string{"-m", "it's fine"}},
		{`-m “it’s fine”`, []string{"-m", "it’s fine"}},
		{`-m 'say "hi"'`, []string{"-m", `say "hi"`}},
		{`-m don't`, []string{"-m", "don't"}}, // an apostrophe inside a word is a letter
		{`-m it’s`, []string{"-m", "it’s"}},
		{`--message="a b"`, []string{"--message=a b"}},
		{`"a b"c`, []string{"a bc"}},
		{`"a"'b'`, []string{"ab"}},
		{`-m ""`, []string{"-m", ""}},
		{"non\u00a0breaking space", []string{"non", "breaking", "space"}},
		{"$(rm -rf /) `x` ; | &&", []string{"$(rm", "-rf", "/)", "`x`", ";", "|", "&&"}}, // text only
	}
	for _, tt := range tests {
		got, err := chatops.Tokenize(tt.text)
		if err != nil {
			t.Errorf("Tokenize(%q): %v", tt.text, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestTokenizeUnclosedQuote(t *testing.T) {
	for _, text := range []string{`-m "no end`, `-m 'no end`, `-m “no end`, `-m “no end"`} {
		_, err := chatops.Tokenize(text)
		var ue *chatops.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "is not closed") {
			t.Errorf("Tokenize(%q) = %v, want a usage error about the quote", text, err)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		text string
		want chatops.Command
	}{
		{"", chatops.Command{Name: "help"}},
		{"help", chatops.Command{Name: "help"}},
		{"HELP Assign", chatops.Command{Name: "help", Topic: "assign"}},
		{`assign churn-model v1.2.0 prod -m "new model"`, chatops.Command{Name: "assign",
			Request: change.Request{Artifact: "churn-model", Version: "v1.2.0", Stage: "prod", Message: "new model"}}},
		{`assign -m “new model” --force churn-model v1.2.0 prod`, chatops.Command{Name: "assign",
			Request: change.Request{Artifact: "churn-model", Version: "v1.2.0", Stage: "prod", Message: "new model", Force: true}}},
		{`assign churn-model v1.2.0 prod --repo acme/models --simple true`, chatops.Command{Name: "assign", Repository: "acme/models",
			Request: change.Request{Artifact: "churn-model", Version: "v1.2.0", Stage: "prod", Simple: change.Simple(registry.SimpleTrue)}}},
		{`assign churn-model v1.2.0 prod --repo=acme/models --simple=false --message=x`, chatops.Command{Name: "assign", Repository: "acme/models",
			Request: change.Request{Artifact: "churn-model", Version: "v1.2.0", Stage: "prod", Message: "x", Simple: change.Simple(registry.SimpleFalse)}}},
		{`assign churn-model v1.2.0 prod —force`, chatops.Command{Name: "assign", // a chat client's em dash
			Request: change.Request{Artifact: "churn-model", Version: "v1.2.0", Stage: "prod", Force: true}}},
		{`assign churn-model v1.2.0 prod --force=false`, chatops.Command{Name: "assign",
			Request: change.Request{Artifact: "churn-model", Version: "v1.2.0", Stage: "prod"}}},
		{`assign churn-model v1.2.0 prod -m -- --`, chatops.Command{Name: "assign",
			Request: change.Request{Artifact: "churn-model", Version: "v1.2.0", Stage: "prod", Message: "--"}}},
		{`assign -- churn-model v1.2.0 prod`, chatops.Command{Name: "assign",
			Request: change.Request{Artifact: "churn-model", Version: "v1.2.0", Stage: "prod"}}},
		{`unassign churn-model v1.2.0 prod`, chatops.Command{Name: "unassign",
			Request: change.Request{Artifact: "churn-model", Version: "v1.2.0", Stage: "prod"}}},
		{`register churn-model`, chatops.Command{Name: "register", Request: change.Request{Artifact: "churn-model"}}},
		{`register churn-model main --bump Minor`, chatops.Command{Name: "register",
			Request: change.Request{Artifact: "churn-model", Ref: "main", Bump: "minor"}}},
		{`register churn-model --version v1.3.0`, chatops.Command{Name: "register",
			Request: change.Request{Artifact: "churn-model", Version: "v1.3.0"}}},
		{`deregister churn-model v1.2.0 -m 'bad data'`, chatops.Command{Name: "deregister",
			Request: change.Request{Artifact: "churn-model", Version: "v1.2.0", Message: "bad data"}}},
		{`deprecate churn-model`, chatops.Command{Name: "deprecate", Request: change.Request{Artifact: "churn-model"}}},
		{`show`, chatops.Command{Name: "show"}},
		{`show churn-model#prod --repo acme/other`, chatops.Command{Name: "show", Repository: "acme/other",
			Request: change.Request{Artifact: "churn-model#prod"}}},
		{`history churn-model`, chatops.Command{Name: "history", Request: change.Request{Artifact: "churn-model"}}},
	}
	for _, tt := range tests {
		got, err := chatops.Parse(tt.text)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.text, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) =\n %+v, want\n %+v", tt.text, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		text, command, msg string
	}{
		{"promote churn-model prod", "", `"promote" is not a command`},
		{"assign churn-model v1.2.0", "assign", "assign needs NAME VERSION STAGE"},
		{"assign churn-model v1.2.0 prod staging", "assign", `assign takes NAME VERSION STAGE, not "staging"`},
		{"assign churn-model v1.2.0 prod --yes", "assign", "assign does not take --yes"},
		{"assign churn-model v1.2.0 prod --bump minor", "assign", "assign does not take --bump"},
		{"show --force", "show", "show does not take --force"},
		{"assign churn-model v1.2.0 prod -m", "assign", `-m needs a value: -m "MSG"`},
		{"assign churn-model v1.2.0 prod -m a -m b", "assign", "--message is given twice"},
		{"assign churn-model v1.2.0 prod --simple maybe", "assign", `--simple must be true, false or auto, not "maybe"`},
		{"assign churn-model v1.2.0 prod --force=yes", "assign", `--force takes no value (or --force=true|false), not "yes"`},
		{"assign churn-model v1.2.0 prod --repo=", "assign", "--repo needs a repository: --repo owner/name"},
		{"deprecate", "deprecate", "deprecate needs NAME"},
		{"register a b c", "register", `register takes NAME [REF], not "c"`},
		{"help assign more", "help", `help takes [COMMAND], not "more"`},
		{`assign churn-model v1.2.0 prod -m "open`, "", "the quote \" is not closed"},
	}
	for _, tt := range tests {
		_, err := chatops.Parse(tt.text)
		var ue *chatops.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("Parse(%q) = %v, want a *UsageError", tt.text, err)
			continue
		}
		if ue.Command != tt.command || !strings.HasPrefix(ue.Msg, tt.msg) {
			t.Errorf("Parse(%q) = (%q, %q), want (%q, %q…)", tt.text, ue.Command, ue.Msg, tt.command, tt.msg)
		}
	}
}

func TestUsage(t *testing.T) {
	_, err := chatops.Parse("register")
	var ue *chatops.UsageError
	if !errors.As(err, &ue) {
		t.Fatal(err)
	}
	want := `register NAME [REF] [--version vX.Y.Z] [--bump major|minor|patch] [-m "MSG"] [--repo OWNER/NAME] [--force] [--simple true|false]`
	if got := ue.Usage(); got != want {
		t.Errorf("usage\n got %s\nwant %s", got, want)
	}
}
