package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes: scripts and CI jobs branch on them, as they do on gto's.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed: unknown artifact, tag exists, ...
	exitUsage = 2 // the command line itself is wrong
)

// usageError marks an error in how the command was invoked, found after the
// command started (e.g. two flags that exclude each other).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// gtoWords is a refusal in gto's own words, capital letter included; it
// exits with status 1, as gto's do.
type gtoWords string

func (e gtoWords) Error() string { return string(e) }

// app is one invocation of the binary.
type app struct {
	stdout, stderr io.Writer
	// started is set when a command's own code begins: every error cobra
	// returns before that (unknown command or flag, wrong number of
	// arguments, bad flag value) is a usage error.
	started bool
	remote  remoteFlags
}

// run executes the command line args and returns the process's exit code.
// Errors are reported on stderr as one line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ue usageError
	if !a.started || errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s: %s (see '%s --help')\n", cmd.CommandPath(), oneLine(err), cmd.CommandPath())
		return exitUsage
	}
	fmt.Fprintf(stderr, "❌ %s\n", oneLine(err))
	return exitError
}

// oneLine keeps an error to the single line the CLI promises.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "hookd",
		Short: "GTO-compatible model registry in Git tags, and the daemon that acts on them",
		Long: `hookd turns a Git repository into an artifact registry the way GTO does:
annotated tags such as "churn@v1.2.0" register versions and tags such as
"churn#prod#3" assign stages. The read commands print exactly what
"gto ... --json" prints; the write commands create the same tags gto creates.

A repository is given with -r/--repo: a local path (default "."), or
"github:owner/name" or "https://github.com/owner/name" for a repository on
GitHub (token in GITHUB_TOKEN).

With --server (or HOOKD_SERVER), the registry commands ask a hookd server
instead, for the repository -r owner/name, with the API token in
HOOKD_TOKEN; they print what they print in local mode.`,
		Example: `  hookd show
  hookd show churn --json
  hookd assign churn --version v1.2.0 --stage prod
  hookd parse 'churn#prod#3' 'models/churn=rf@v1.0.0'`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Completion scripts are not part of hookd's surface.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.AddGroup(
		&cobra.Group{ID: groupRead, Title: "Read the registry:"},
		&cobra.Group{ID: groupWrite, Title: "Modify artifacts:"},
		&cobra.Group{ID: groupDaemon, Title: "Run hookd as a service:"},
	)
	a.addParse(root)
	a.addReadCommands(root)
	a.addWriteCommands(root)
	a.addDaemonCommands(root)
	// Commands that name no group of their own are the service's.
	for _, c := range root.Commands() {
		if c.GroupID == "" {
			c.GroupID = groupDaemon
		}
	}
	return root
}

// Command groups shown by --help, after gto's.
const (
	groupRead   = "read"
	groupWrite  = "write"
	groupDaemon = "daemon"
)

// runE wraps a command's code so that run can tell its errors from cobra's
// usage errors.
func (a *app) runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.started = true
		return fn(cmd, args)
	}
}
