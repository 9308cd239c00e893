package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

// A bot that hangs up while its command runs leaves no half-done write:
// the command, once accepted, is carried out whole and audited, as REST
// writes are (TestWriteOutlivesItsClient).
func TestCommandOutlivesItsClient(t *testing.T) {
	gate := newGate()
	c := newCompanion(t, companionOptions{wrap: gate.wrap})
	e := hangUpDuringTheWrite(t, c, gate, "/api/v1/command",
		[]byte(`{"text": "register churn HEAD --version v1.0.0", "repository": "`+companionRepo+`"}`))
	if e.Via != "command" || e.Status != http.StatusCreated || strings.Join(e.Tags, " ") != "churn@v1.0.0" {
		t.Fatalf("the abandoned command ended %d via %s with tags %q: %s", e.Status, e.Via, e.Tags, e.Error)
	}
	if c.git("tag", "-l", "churn@v1.0.0") != "churn@v1.0.0" {
		t.Error("the command's tag is missing")
	}
}
