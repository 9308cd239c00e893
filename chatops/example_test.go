package chatops_test

import (
	"context"
	"fmt"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/chatops"
)

// Slack sends what follows the slash command as text; chat clients turn
// straight quotes into typographic ones, which the grammar understands.
func ExampleParse() {
	cmd, err := chatops.Parse(`assign churn-model v1.2.0 prod -m “retrained on March data” --repo acme/models`)
	if err != nil {
		panic(err)
	}
	fmt.Println(cmd.Operation(), cmd.Repository)
	fmt.Printf("%s %s %s: %q\n", cmd.Request.Artifact, cmd.Request.Version, cmd.Request.Stage, cmd.Request.Message)

	_, err = chatops.Parse("assign churn-model v1.2.0")
	fmt.Println(err)
	// Output:
	// assign acme/models
	// churn-model v1.2.0 prod: "retrained on March data"
	// assign needs NAME VERSION STAGE
}

// A command the grammar does not know is answered with what it does know.
func ExampleRunner_Run() {
	r := &chatops.Runner{Repository: "acme/models", Prefix: "/gto "}
	reply := r.Run(context.Background(), access.Principal{Name: "alice"}, "promote churn-model")
	fmt.Println(reply.OK, reply.Code)
	fmt.Println(reply.Text)
	reply = r.Run(context.Background(), access.Principal{Name: "alice"}, "help deprecate")
	fmt.Println(reply.Text)
	// Output:
	// false usage
	// ❌ "promote" is not a command.
	// `/gto help` lists every command.
	// `/gto deprecate NAME [-m "MSG"] [--repo OWNER/NAME] [--force] [--simple true|false]`: deprecate an artifact.
	// Flags:
	// `--message` (`-m`): the tag's message
	// `--repo`: the repository (default: chat.repository)
	// `--force`: go past GTO's rules and the promotion order (if your scopes allow it)
	// `--simple`: simple tags (name#stage) or counted ones (name#stage#N)
}
