package deploy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks (standardwebhooks.com), for an http action with
// `signature: standard`: receivers built with that project's libraries
// verify hookd's requests as they verify anyone's.
//
//	webhook-id:        the run's idempotency key (the same on every attempt)
//	webhook-timestamp: the attempt's time, Unix seconds
//	webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body"> per secret
//
// Secrets are written as the specification serializes them: "whsec_" and
// the base64 of the key. Giving several (signing_secrets) signs with each,
// space-separated, so a receiver can move to a new key without missing a
// delivery. Without a body template the body is the specification's
// {"type": "gto.<event>", "timestamp": ..., "data": <the event>}.

// Standard Webhooks header names.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// standardSecretPrefix marks a Standard Webhooks symmetric secret.
const standardSecretPrefix = "whsec_"

// standardKey decodes a whsec_ secret into its key. The specification
// asks for 24 to 64 random bytes.
func standardKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, standardSecretPrefix)
	if !ok {
		return nil, fmt.Errorf("a Standard Webhooks secret starts with %s", standardSecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("what follows %s is not base64", standardSecretPrefix)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("the key is %d bytes; Standard Webhooks wants 24 to 64", len(key))
	}
	return key, nil
}

// standardSigner signs requests with one or more keys.
type standardSigner struct {
	keys [][]byte
}

// sign sets the three headers for body, sent as message id at time now.
func (s *standardSigner) sign(h http.Header, id string, now time.Time, body []byte) error {
	if strings.Contains(id, ".") {
		// The signed content is "id.timestamp.body": an id with a dot
		// could be read as another split.
		return fmt.Errorf("webhook-id %q contains a '.'", id)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sigs := make([]string, len(s.keys))
	for i, key := range s.keys {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id + "." + ts + "."))
		m.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, ts)
	h.Set(HeaderWebhookSignature, strings.Join(sigs, " "))
	return nil
}

// standardBody is the specification's payload: the event's type under
// "gto.", when it happened (the tag's date), and the event as data.
func standardBody(c *Context) ([]byte, error) {
	data, err := eventJSON(c)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{"gto." + c.Type, c.Date.UTC(), data})
}
