package access_test

import (
	"fmt"

	"github.com/hookd-dev/hookd/access"
)

// A CI bot may move models through dev and staging; only the release bot
// may touch prod.
func Example() {
	ci := access.Principal{Name: "ci-bot", Scopes: []access.Scope{{
		Repositories: []string{"acme/*"},
		Operations:   []string{"read", "assign"},
		Stages:       []string{"dev", "staging"},
	}}}
	fmt.Println(ci.Allows(access.Request{Repository: "acme/models", Operation: access.Assign, Stage: "staging"}))
	fmt.Println(ci.Check(access.Request{Repository: "acme/models", Operation: access.Assign, Stage: "prod"}))
	// Output:
	// true
	// ci-bot may not assign stage "prod" in acme/models
}
