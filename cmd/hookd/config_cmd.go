package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hookd-dev/hookd/config"
)

// addDaemonCommands adds what runs hookd as a service: serve, the git hook
// and config validation.
func (a *app) addDaemonCommands(root *cobra.Command) {
	a.addServe(root)
	a.addHook(root)
	a.addConfig(root)
	a.addGitHub(root)
}

// configEnv names the config file when --config (or FILE) is not given.
const configEnv = "HOOKD_CONFIG"

func (a *app) addConfig(root *cobra.Command) {
	cfg := &cobra.Command{
		Use:   "config",
		Short: "Check hookd's configuration file",
	}
	cfg.AddCommand(&cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a configuration file: prints OK, or every problem with its line",
		Long: `Check a configuration file the way "hookd serve" reads it: unknown keys,
missing environment variables in ${VAR} references, repositories without a
secret, malformed values. Warnings (an action's on.repo that matches no
configured repository, say) are printed too, with their line; they do not
make the file invalid. FILE defaults to $` + configEnv + `.
Exits 0 when the file is valid, 1 when it has problems.`,
		Args: cobra.MaximumNArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			path := os.Getenv(configEnv)
			if len(args) == 1 {
				path = args[0]
			}
			if path == "" {
				return usagef("no FILE given and $%s is not set", configEnv)
			}
			cfg, err := config.Load(path)
			var p *config.Problems
			if errors.As(err, &p) {
				a.printProblems(path, "", p.List)
				a.printProblems(path, "warning: ", p.Warnings)
				return fmt.Errorf("%s: %d problem(s)", path, len(p.List))
			}
			if err != nil {
				return err
			}
			a.printProblems(path, "warning: ", cfg.Warnings)
			fmt.Fprintf(a.stdout, "%s: OK\n", path)
			return nil
		}),
	})
	root.AddCommand(cfg)
}

// printProblems prints each problem as path:line: prefix message.
func (a *app) printProblems(path, prefix string, list []config.Problem) {
	for _, q := range list {
		if q.Line > 0 {
			fmt.Fprintf(a.stdout, "%s:%d: %s%s\n", path, q.Line, prefix, q.Message)
		} else {
			fmt.Fprintf(a.stdout, "%s: %s%s\n", path, prefix, q.Message)
		}
	}
}
