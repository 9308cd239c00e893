package ops

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/internal/hookdtest"
	"github.com/hookd-dev/hookd/internal/pgtest"
	"github.com/hookd-dev/hookd/internal/testenv"
)

var (
	hookdBin, loadBin string
	pg                *pgtest.Server
)

func TestMain(m *testing.M) {
	os.Exit(hookdtest.Main(m, &pg, map[string]*string{"cmd/hookd": &hookdBin, "cmd/hookd-load": &loadBin}))
}

// program is the path of an installed program the test needs; the test
// skips (fails in CI) without it.
func program(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		testenv.Missing(t, name, debianPackage)
	}
	return path
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dockerfile is the Dockerfile's instructions, continuation lines joined.
type instruction struct{ op, args string }

func dockerfile(t *testing.T) []instruction {
	t.Helper()
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, args, _ := strings.Cut(line, " ")
		out = append(out, instruction{strings.ToUpper(op), strings.TrimSpace(args)})
	}
	return out
}

// TestDockerfileBuildsAStaticBinaryForANonRootImage checks what the image
// promises: a static binary (built here with the Dockerfile's own build
// command, and its ELF read), a distroless or scratch final stage, a
// non-root numeric user, an exec-form entrypoint, and a listener reachable
// from outside the container. With a Docker daemon it builds the image too.
func TestDockerfileBuildsAStaticBinaryForANonRootImage(t *testing.T) {
	ins := dockerfile(t)
	var stages []int
	for i, in := range ins {
		if in.op == "FROM" {
			stages = append(stages, i)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages; want a build stage and a final one", len(stages))
	}
	final := ins[stages[len(stages)-1]:]
	base := strings.Fields(final[0].args)[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final image %s; want distroless static or scratch", base)
	}
	var build string
	for _, in := range ins[:stages[len(stages)-1]] {
		if in.op == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	if !strings.Contains(build, "CGO_ENABLED=0") {
		t.Fatalf("the build step %q does not set CGO_ENABLED=0", build)
	}
	want := map[string]func(string) bool{
		"USER": func(a string) bool {
			uid, _, _ := strings.Cut(a, ":")
			n, err := strconv.Atoi(uid)
			return err == nil && n != 0
		},
		"ENTRYPOINT": func(a string) bool { return strings.HasPrefix(a, `["`) },
		"CMD":        func(a string) bool { return strings.Contains(a, `"0.0.0.0:8080"`) },
		"EXPOSE":     func(a string) bool { return a == "8080" },
	}
	for op, ok := range want {
		i := slices.IndexFunc(final, func(in instruction) bool { return in.op == op })
		if i < 0 || !ok(final[i].args) {
			t.Errorf("final stage %s: %v", op, final[max(i, 0)])
		}
	}

	// The binary as the image gets it. -trimpath and -ldflags change no
	// linking; left out, the build shares the cache of the other tests'.
	out := filepath.Join(t.TempDir(), "hookd")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/hookd")
	cmd.Dir, cmd.Env = "..", append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%v): it would not run on %s", p.Type, base)
		}
	}

	if exec.Command("docker", "info").Run() != nil {
		t.Log("no Docker daemon here: the image itself was not built")
		return
	}
	run(t, "docker", "build", "-q", "-t", "hookd:test", "..")
	if got := strings.TrimSpace(run(t, "docker", "run", "--rm", "hookd:test", "--help")); !strings.Contains(got, "hookd") {
		t.Errorf("the image's hookd --help printed %q", got)
	}
}

// TestSystemdUnitVerifiesAndIsHardened runs systemd-analyze on the unit,
// pointed at a real hookd binary: it must verify, and its exposure score
// (systemd-analyze security) must be "OK" or better.
func TestSystemdUnitVerifiesAndIsHardened(t *testing.T) {
	analyze := program(t, "systemd-analyze", "systemd")
	data, err := os.ReadFile("systemd/hookd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
		"PrivateTmp=yes", "StateDirectory=hookd", "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service",
		"ExecReload=/bin/kill -HUP $MAINPID", "ExecStart=/usr/local/bin/hookd serve --config /etc/hookd/hookd.yaml"} {
		if !strings.Contains(string(data), d) {
			t.Errorf("the unit has no %q", strings.TrimSpace(d))
		}
	}
	unit := filepath.Join(t.TempDir(), "hookd.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(data, []byte("/usr/local/bin/hookd"), []byte(hookdBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out := run(t, analyze, "security", "--offline=true", "--no-pager", unit)
	m := regexp.MustCompile(`Overall exposure level for hookd.service: ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(m[1], 64); level > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0 (OK):\n%s", level, out)
	}
}
