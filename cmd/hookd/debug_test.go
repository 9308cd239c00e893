package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// debug_listen serves net/http/pprof on a loopback listener of its own; the
// public listener never answers for the profiles.
func TestServeDebugListen(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookd.yaml")
	writeFile(t, cfgPath, "debug_listen: \"0\"\n")
	d := startDaemon(t, dir, gitEnv(t), "--config", cfgPath)
	addr, _ := d.WaitLog("profiles served")["address"].(string)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("profiles served on %q, want 127.0.0.1 for a port alone", addr)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if got := d.request(req); got != http.StatusOK {
			t.Errorf("debug listener %s: %d, want 200", path, got)
		}
		if got := d.get(path); got != http.StatusNotFound {
			t.Errorf("public listener %s: %d, want 404", path, got)
		}
	}
	d.Stop()
}

// Without debug_listen nothing serves profiles.
func TestServeWithoutDebugListen(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, gitEnv(t))
	if got := d.get("/debug/pprof/"); got != http.StatusNotFound {
		t.Errorf("public listener /debug/pprof/: %d, want 404", got)
	}
	d.Stop()
	if strings.Contains(d.LogText(), "profiles served") {
		t.Errorf("profiles served without debug_listen:\n%s", d.LogText())
	}
}
