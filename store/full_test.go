package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fullDiskEnv makes the test binary a process whose files may not grow
// past a limit, as on a full disk (see TestReadyFailsWhileWritesAreRefused).
const fullDiskEnv = "HOOKD_STORE_TEST_FULL_DISK"

// fillDisk opens a SQLite store at path, limits the size of the files it
// writes (RLIMIT_FSIZE: a write past it fails as on a full disk, which
// SQLite reports as SQLITE_FULL), accepts deliveries until one is refused,
// and prints what Ready says before, during and after.
func fillDisk(path string) {
	ctx := context.Background()
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	s, err := Open(ctx, path, WithLogger(quiet))
	if err != nil {
		say("open: %v", err)
		os.Exit(2)
	}
	say("ready before: %v", s.Ready(ctx))
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		say("getrlimit: %v", err)
		os.Exit(2)
	}
	var largest int64
	for _, f := range []string{path, path + "-wal"} {
		if st, err := os.Stat(f); err == nil {
			largest = max(largest, st.Size())
		}
	}
	full := lim
	full.Cur = uint64(largest + 256<<10)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		say("setrlimit: %v", err)
		os.Exit(2)
	}
	body := make([]byte, 32<<10)
	refused := false
	for i := range 2000 {
		d := delivery(fmt.Sprintf("fill-%d", i))
		d.Body = body
		if _, err := s.Accept(ctx, d); err != nil {
			say("refused after %d: %v", i, err)
			refused = true
			break
		}
	}
	if !refused {
		say("never refused")
		os.Exit(2)
	}
	say("ready while full: %v", s.Ready(ctx))
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		say("setrlimit: %v", err)
		os.Exit(2)
	}
	say("ready after: %v", s.Ready(ctx))
	_, err = s.Accept(ctx, delivery("after"))
	say("accept after: %v", err)
	os.Exit(0)
}

// While the disk is full the store refuses deliveries, and then Ready
// fails too, so a load balancer stops sending them; once there is room it
// passes again. The disk is made full for real: the process's files may
// not grow (RLIMIT_FSIZE).
func TestReadyFailsWhileWritesAreRefused(t *testing.T) {
	child, stdout := startChild(t, fullDiskEnv+"="+filepath.Join(t.TempDir(), "hookd.db"))
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v; it said:\n%s", err, strings.Join(lines, "\n"))
	}
	said := strings.Join(lines, "\n")
	for _, want := range []string{"ready before: <nil>", "refused after ", "ready after: <nil>", "accept after: <nil>"} {
		if !strings.Contains(said, want) {
			t.Errorf("the child did not say %q; it said:\n%s", want, said)
		}
	}
	if !strings.Contains(said, "ready while full: store: the database does not take writes: ") {
		t.Errorf("Ready passed while deliveries were refused; the child said:\n%s", said)
	}
}
