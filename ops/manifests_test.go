package ops

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// object is one Kubernetes manifest, as generic YAML.
type object map[string]any

// get follows a path of keys and list indexes.
func (o object) get(path ...any) any {
	var v any = map[string]any(o)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func manifests(t *testing.T) map[string]object {
	t.Helper()
	f, err := os.Open("kubernetes/hookd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byKind := map[string]object{}
	dec := yaml.NewDecoder(f)
	for {
		var o map[string]any // nested maps decode as map[string]any too
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return byKind
		}
		if err != nil {
			t.Fatal(err)
		}
		kind, _ := o["kind"].(string)
		if _, dup := byKind[kind]; dup {
			t.Fatalf("two %s objects", kind)
		}
		byKind[kind] = o
	}
}

// TestKubernetesManifestsRunReplicasSafely decodes the manifests and
// checks what running several replicas on one PostgreSQL needs: replicas,
// probes on /healthz and /readyz, secrets from the environment, a
// disruption budget and a Service over the same pods, a hardened pod; and
// hookd itself validates the configuration they mount.
func TestKubernetesManifestsRunReplicasSafely(t *testing.T) {
	m := manifests(t)
	for _, kind := range []string{"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"} {
		if m[kind] == nil {
			t.Fatalf("no %s in kubernetes/hookd.yaml", kind)
		}
	}
	d := m["Deployment"]
	if n, _ := d.get("spec", "replicas").(int); n < 2 {
		t.Errorf("%d replicas; want several", n)
	}
	labels := d.get("spec", "template", "metadata", "labels")
	for kind, path := range map[string][]any{
		"Deployment":          {"spec", "selector", "matchLabels"},
		"Service":             {"spec", "selector"},
		"PodDisruptionBudget": {"spec", "selector", "matchLabels"},
	} {
		if got := m[kind].get(path...); !equalYAML(got, labels) {
			t.Errorf("%s selects %v, the pods are labelled %v", kind, got, labels)
		}
	}
	if m["PodDisruptionBudget"].get("spec", "maxUnavailable") == nil && m["PodDisruptionBudget"].get("spec", "minAvailable") == nil {
		t.Error("the PodDisruptionBudget bounds nothing")
	}
	c := object(d.get("spec", "template", "spec", "containers", 0).(map[string]any))
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := c.get(probe, "httpGet", "path"); got != path {
			t.Errorf("%s on %v, want %s", probe, got, path)
		}
	}
	if c.get("securityContext", "readOnlyRootFilesystem") != true || c.get("securityContext", "allowPrivilegeEscalation") != false ||
		d.get("spec", "template", "spec", "securityContext", "runAsNonRoot") != true {
		t.Error("the pod is not hardened: want runAsNonRoot, readOnlyRootFilesystem, no privilege escalation")
	}
	config, _ := m["ConfigMap"].get("data", "hookd.yaml").(string)
	env := map[string]bool{}
	for _, e := range c.get("env").([]any) {
		e := object(e.(map[string]any))
		switch {
		case e["name"] == "GOMAXPROCS":
			if e.get("valueFrom", "resourceFieldRef", "resource") != "requests.cpu" {
				t.Errorf("GOMAXPROCS from %v, want the pod's CPU request", e["valueFrom"])
			}
		case e.get("valueFrom", "secretKeyRef", "name") == nil:
			t.Errorf("env %v is not from a Secret", e["name"])
		}
		env[e["name"].(string)] = true
	}
	if !env["GOMAXPROCS"] {
		t.Error("GOMAXPROCS is not set: each replica's Go scheduler would size itself to every core of its node")
	}
	for _, ref := range []string{"DATABASE_URL", "WEBHOOK_SECRET", "GITHUB_TOKEN"} {
		if !strings.Contains(config, "${"+ref+"}") || !env[ref] {
			t.Errorf("${%s}: in the config %v, from a Secret %v", ref, strings.Contains(config, "${"+ref+"}"), env[ref])
		}
	}
	if !strings.Contains(config, "database_url: ${DATABASE_URL}") {
		t.Error("the replicas do not share a database from the Secret")
	}

	// hookd's own verdict on the mounted configuration, with the Secret's
	// values in the environment as the pod has them.
	path := filepath.Join(t.TempDir(), "hookd.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(hookdBin, "config", "validate", path)
	cmd.Env = append(os.Environ(), "DATABASE_URL=postgres://hookd@db/hookd", "WEBHOOK_SECRET=s3cret", "GITHUB_TOKEN=ghp_x")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("hookd config validate on the ConfigMap's hookd.yaml: %v\n%s", err, out)
	}
	args := c.get("args").([]any)
	if !slices.Contains(args, any("--config")) || c.get("volumeMounts", 0, "mountPath") != "/etc/hookd" {
		t.Errorf("the container runs %v with mounts %v; want the ConfigMap's file as --config", args, c.get("volumeMounts"))
	}
}

func equalYAML(a, b any) bool {
	x, _ := yaml.Marshal(a)
	y, _ := yaml.Marshal(b)
	return a != nil && bytes.Equal(x, y)
}
