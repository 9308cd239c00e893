package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ExecAction runs a program. Command is an argv, never given to a shell:
// every templated value, however it is spelled, stays one argument.
type ExecAction struct {
	// Command is the program and its arguments; each element is a template.
	Command []string `yaml:"command"`
	// Env adds templated variables to the program's environment, which
	// otherwise holds only a few of hookd's own (PATH, HOME, LANG, ...),
	// the event as HOOKD_* variables and the action's secrets.
	Env map[string]string `yaml:"env"`
	// Dir is the templated working directory (default: hookd's).
	Dir string `yaml:"dir"`
	// Timeout bounds one attempt (default 10m); when it passes, the
	// program and everything it started are killed.
	Timeout Duration `yaml:"timeout"`
}

type execRunner struct {
	command []text
	env     map[string]text
	dir     text
	limit   time.Duration
	secrets map[string]Secret
}

func (a *ExecAction) compile(c *compiler, secrets map[string]Secret) runner {
	if len(a.Command) == 0 {
		c.problem([]any{"exec", "command"}, "action %q: exec.command is empty; give the program and its arguments as a list", c.name)
	}
	r := &execRunner{
		env:     c.texts(a.Env, "exec", "env"),
		dir:     c.text(a.Dir, "exec", "dir"),
		limit:   a.Timeout.Or(DefaultExecTimeout),
		secrets: secrets,
	}
	for i, arg := range a.Command {
		r.command = append(r.command, c.text(arg, "exec", "command", i))
	}
	for k := range a.Env {
		if !envName.MatchString(k) {
			c.problem([]any{"exec", "env", k}, "action %q: exec.env: %q is not a valid environment variable name", c.name, k)
		}
	}
	return r
}

func (r *execRunner) timeout() time.Duration { return r.limit }

// waitDelay is how long hookd waits, once the program has exited or been
// killed, for whatever it left behind to close its output.
const waitDelay = 2 * time.Second

func (r *execRunner) run(ctx context.Context, inv *invocation) (*int, error) {
	argv := make([]string, len(r.command))
	for i, t := range r.command {
		v, err := t.render(inv.ctx)
		if err != nil {
			return nil, fmt.Errorf("command[%d]: %w", i, err)
		}
		argv[i] = v
	}
	dir, err := r.dir.render(inv.ctx)
	if err != nil {
		return nil, fmt.Errorf("dir: %w", err)
	}
	env, err := r.environ(inv.ctx)
	if err != nil {
		return nil, err
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = inv.out, inv.out
	cmd.SysProcAttr = processAttr()
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// The negative pid names the whole group.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	code := cmd.ProcessState.ExitCode()
	if ctx.Err() != nil {
		return &code, fmt.Errorf("killed the process group: %w", context.Cause(ctx))
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return &code, fmt.Errorf("exit status %d", code)
	case errors.Is(err, exec.ErrWaitDelay):
		// The program succeeded but something it started kept its
		// output open; the result stands.
		inv.out.Printf("hookd: output still open %s after the program exited; stopped reading", waitDelay)
		return &code, nil
	case err != nil:
		return &code, err
	}
	return &code, nil
}

// inherited are the variables of hookd's own environment a program gets:
// enough to find programs and behave normally, but not hookd's
// credentials, which the program has no business reading.
var inherited = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR"}

// environ builds the program's environment: the inherited variables, the
// event as HOOKD_* variables (tag-derived values reach the program only as
// whole values, never as shell text), the action's secrets and its env.
func (r *execRunner) environ(c *Context) ([]string, error) {
	var env []string
	for _, k := range inherited {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	e := &c.Event
	env = append(env,
		"HOOKD_EVENT_ID="+strconv.FormatInt(e.EventID, 10),
		"HOOKD_IDEMPOTENCY_KEY="+c.IdempotencyKey,
		"HOOKD_RUN_ID="+strconv.FormatInt(c.RunID, 10),
		"HOOKD_ATTEMPT="+strconv.Itoa(c.Attempt),
		"HOOKD_RUN_URL="+c.RunURL,
		"HOOKD_DELIVERY_ID="+e.DeliveryID,
		"HOOKD_EVENT="+e.Type,
		"HOOKD_REPOSITORY="+e.Repository,
		"HOOKD_ARTIFACT="+e.Artifact,
		"HOOKD_VERSION="+e.Version,
		"HOOKD_STAGE="+e.Stage,
		"HOOKD_PREVIOUS_VERSION="+e.Previous,
		"HOOKD_COMMIT="+e.Commit,
		"HOOKD_TAG="+e.Tag,
		"HOOKD_TAGGER_NAME="+e.Tagger.Name,
		"HOOKD_TAGGER_EMAIL="+e.Tagger.Email,
		"HOOKD_MESSAGE="+e.Message,
		"HOOKD_ARTIFACT_TYPE="+e.Annotations.Type,
		"HOOKD_ARTIFACT_PATH="+e.Annotations.Path,
		"HOOKD_ARTIFACT_DESCRIPTION="+e.Annotations.Description,
		// A lane run's states; lists are space-separated (versions
		// never contain spaces).
		"HOOKD_CAUSE="+e.Cause,
		"HOOKD_DESIRED_BEFORE="+strings.Join(e.DesiredBefore, " "),
		"HOOKD_DESIRED_VERSIONS="+strings.Join(e.Desired, " "),
		"HOOKD_DEPLOYED_VERSIONS="+strings.Join(e.Deployed, " "),
		"HOOKD_DIRECTION="+e.Direction,
		"HOOKD_REDEPLOY="+strconv.FormatBool(e.Redeploy),
		"HOOKD_EVENT_IDS="+joinIDs(e.Events),
	)
	for k, v := range r.secrets {
		env = append(env, k+"="+string(v))
	}
	extra, err := renderAll(r.env, c)
	if err != nil {
		return nil, fmt.Errorf("env.%w", err)
	}
	for k, v := range extra {
		// Later entries win in os/exec, so env overrides the defaults.
		env = append(env, k+"="+v)
	}
	return env, nil
}

func joinIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, " ")
}
