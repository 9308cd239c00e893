// Command hookd is the hookd binary: the GTO-compatible registry CLI
// (parse, check-ref, show, history, stages, register, assign, unassign,
// deregister, deprecate) and, as they land, the daemon and hook commands.
//
// Each command group lives in its own file and adds itself to the root
// command in newApp; main only wires the process to it.
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
