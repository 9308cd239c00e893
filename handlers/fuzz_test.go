package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/hookd-dev/hookd/handlers"
	"github.com/hookd-dev/hookd/store"
)

// FuzzWebhook sends the webhook endpoints any headers and body, signed
// with the right secret or not. Whatever arrives, the answer is JSON with
// a known status and never a 500; a 2xx goes only to a delivery signed
// with its repository's secret, under headers the store can keep, and
// once answered 2xx (a ping aside) the delivery is stored.
func FuzzWebhook(f *testing.F) {
	push := pushBody(repo)
	f.Add(false, "push", "guid-1", "application/json", true, push)
	f.Add(false, "ping", "ping-1", "application/json", true, []byte(`{"zen":"z","hook_id":1,"repository":{"full_name":"acme/models"}}`))
	f.Add(false, "push", "form-1", "application/x-www-form-urlencoded", true, []byte("payload="+string(push)))
	f.Add(false, "create", "c-1", "", true, []byte(`{"ref":"churn@v1.0.0","ref_type":"tag","repository":{"full_name":"acme/models"}}`))
	f.Add(false, "push", "caf\xe9", "application/json", true, push)
	f.Add(false, "issues", "i-1", "application/json", false, push)
	f.Add(false, "push", "", "application/json", true, []byte(`{"repository":`))
	f.Add(true, "push", "git-1", "application/json", true, gitPush("/srv/git/models.git"))
	f.Add(true, "push", "git-2", "", true, []byte(`{"repository":"/srv/git/models.git","updates":"no"}`))

	// Each delivery accepted is a durable commit. On a RAM-backed file
	// system, where there is one, that costs no disk flush, and the fuzzer
	// spends its time on the handler: twenty times the inputs a second on
	// a busy disk.
	dir := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "hookd-fuzz-"); err == nil {
		dir = shm
		f.Cleanup(func() { os.RemoveAll(shm) })
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "hookd.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	h := handlers.New(handlers.Options{Store: st})
	h.SetSecrets(handlers.Secrets{repo: secret, "/srv/git/models.git": secret})

	f.Fuzz(func(t *testing.T, git bool, event, id, contentType string, signed bool, body []byte) {
		path, idHeader, sigHeader := "/webhooks/github", "X-GitHub-Delivery", "X-Hub-Signature-256"
		if git {
			path, idHeader, sigHeader = "/webhooks/git", handlers.GitDeliveryHeader, handlers.GitSignatureHeader
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header[idHeader] = []string{id}
		req.Header["X-Github-Event"] = []string{event}
		req.Header["Content-Type"] = []string{contentType}
		sig := handlers.Sign(secret, body)
		if !signed {
			sig = handlers.Sign("a guess", body)
		}
		req.Header[sigHeader] = []string{sig}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		var answer map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%d answer %q is not JSON: %v", rec.Code, rec.Body, err)
		}
		switch rec.Code {
		case http.StatusOK, http.StatusAccepted:
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
			if answer["error"] == "" || answer["message"] == "" {
				t.Fatalf("%d without an error code and message: %v", rec.Code, answer)
			}
			return
		default:
			t.Fatalf("answered %d %v", rec.Code, answer)
		}
		if !signed || !utf8.ValidString(id) {
			t.Fatalf("answered %d %v to a delivery signed %v with id %q", rec.Code, answer, signed, id)
		}
		if answer["status"] == "ping" {
			return
		}
		if _, err := st.Delivery(context.Background(), id); err != nil {
			t.Fatalf("answered %d %v, but delivery %q is not stored: %v", rec.Code, answer, id, err)
		}
	})
}
