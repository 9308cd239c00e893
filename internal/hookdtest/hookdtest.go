// Package hookdtest runs the hookd binary as tests outside cmd/hookd meet
// it: built once, started as `hookd serve` processes on 127.0.0.1, read
// through their JSON log, stopped gently or killed.
package hookdtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/internal/pgtest"
)

// WaitLimit bounds every wait on a process.
const WaitLimit = 60 * time.Second

// Main is a test package's TestMain: it builds the module's commands
// (such as "cmd/hookd") into a temp dir, storing each one's path where
// commands says, runs the package's tests with a PostgreSQL server of its
// own in *pg (see pgtest.Main), and cleans up.
//
//	func TestMain(m *testing.M) {
//		os.Exit(hookdtest.Main(m, &pg, map[string]*string{"cmd/hookd": &hookdBin}))
//	}
func Main(m *testing.M, pg **pgtest.Server, commands map[string]*string) int {
	dir, err := os.MkdirTemp("", "hookdtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for pkg, path := range commands {
		*path = filepath.Join(dir, filepath.Base(pkg))
		build := exec.Command("go", "build", "-o", *path, "github.com/hookd-dev/hookd/"+pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", pkg, err)
			return 1
		}
	}
	return pgtest.Main(m, pg)
}

// Process is one `hookd serve`, logging JSON.
type Process struct {
	t    testing.TB
	Cmd  *exec.Cmd     // its command; ProcessState once Done is closed
	Addr string        // host:port it listens on
	Done chan struct{} // closed when it has exited

	mu   sync.Mutex
	logs []map[string]any
	seen map[int]bool // entries WaitLog returned
	more *sync.Cond
}

// Serve starts `bin serve --listen 127.0.0.1:0 --log-format json args...`
// in dir ("" for the test's own) with env and waits until it listens. It
// is killed when the test ends.
func Serve(t testing.TB, bin, dir string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{t: t, Done: make(chan struct{}), seen: map[int]bool{}}
	p.more = sync.NewCond(&p.mu)
	p.Cmd = exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	p.Cmd.Dir, p.Cmd.Env = dir, env
	stderr, err := p.Cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			entry := map[string]any{}
			if json.Unmarshal(sc.Bytes(), &entry) != nil {
				entry["msg"] = sc.Text()
			}
			p.mu.Lock()
			p.logs = append(p.logs, entry)
			p.more.Broadcast()
			p.mu.Unlock()
		}
		_ = p.Cmd.Wait()
		close(p.Done)
		p.mu.Lock()
		p.more.Broadcast()
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		_ = p.Cmd.Process.Kill()
		<-p.Done
	})
	p.Addr = p.WaitLog("hookd listening")["address"].(string)
	return p
}

// URL is the process's base URL.
func (p *Process) URL() string { return "http://" + p.Addr }

// Alive says whether it has not exited.
func (p *Process) Alive() bool {
	select {
	case <-p.Done:
		return false
	default:
		return true
	}
}

// WaitLog returns the first entry whose message starts with msg that it
// has not returned before, waiting for it if need be.
func (p *Process) WaitLog(msg string) map[string]any {
	p.t.Helper()
	expired := make(chan struct{})
	timer := time.AfterFunc(WaitLimit, func() {
		close(expired)
		p.mu.Lock()
		p.more.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for i, e := range p.logs {
			if m, _ := e["msg"].(string); !p.seen[i] && strings.HasPrefix(m, msg) {
				p.seen[i] = true
				return e
			}
		}
		select {
		case <-p.Done:
			p.t.Fatalf("hookd exited before logging %q:\n%s", msg, p.tail())
		case <-expired:
			p.t.Fatalf("hookd did not log %q within %s:\n%s", msg, WaitLimit, p.tail())
		default:
		}
		p.more.Wait()
	}
}

// tail is the end of the log; p.mu is held.
func (p *Process) tail() string {
	return logText(p.logs[max(0, len(p.logs)-60):])
}

// LastLogTime is the time of the latest entry whose message is msg (the
// zero time when there is none).
func (p *Process) LastLogTime(msg string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.logs) - 1; i >= 0; i-- {
		if p.logs[i]["msg"] == msg {
			t, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(p.logs[i]["time"]))
			return t
		}
	}
	return time.Time{}
}

// LogText is the whole log so far, an entry a line.
func (p *Process) LogText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return logText(p.logs)
}

func logText(entries []map[string]any) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintln(&b, e)
	}
	return b.String()
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// Kill ends the process with SIGKILL: no drain, no goodbye.
func (p *Process) Kill() {
	p.t.Helper()
	p.Signal(syscall.SIGKILL)
	<-p.Done
}

// Stop ends the process with SIGTERM and waits for its clean exit.
func (p *Process) Stop() {
	p.t.Helper()
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
	case <-time.After(WaitLimit):
		p.t.Fatalf("hookd did not stop after SIGTERM:\n%s", p.LogText())
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("hookd exited %d after SIGTERM:\n%s", code, p.LogText())
	}
}

// Get answers the status and body of GET path on the process, 0 when it
// does not answer.
func (p *Process) Get(path string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}
