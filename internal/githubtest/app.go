package githubtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// GitHub App authentication: an app signs a short-lived JWT (RS256, iss =
// app id) with its private key and trades it at
// POST /app/installations/{id}/access_tokens for an installation token.
// With Options.AppID set the stand-in plays that app's installation, so
// ghinstallation works against it:
//
//	tr, _ := ghinstallation.New(http.DefaultTransport, appID, installationID, gh.AppPrivateKeyPEM())
//	tr.BaseURL = strings.TrimSuffix(gh.APIURL(), "/")
//
// The token it hands out is Options.Token, so everything else is unchanged.

// newAppKey makes the app's key pair; 2048 bits is what GitHub issues.
func newAppKey() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }

// AppPrivateKeyPEM is the app's private key in the PKCS#1 PEM form GitHub
// lets you download. It is nil unless Options.AppID is set.
func (s *Server) AppPrivateKeyPEM() []byte {
	if s.appKey == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(s.appKey)})
}

// maxJWTLifetime is the longest app JWT GitHub accepts.
const maxJWTLifetime = 10 * time.Minute

// validAppJWT checks a bearer JWT as GitHub does: RS256 signed by the app's
// key, issued by the app, not expired, living at most ten minutes.
func (s *Server) validAppJWT(r *http.Request) bool {
	if s.appKey == nil {
		return false
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	parts := strings.Split(token, ".")
	if !strings.EqualFold(scheme, "bearer") || len(parts) != 3 {
		return false
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"` // GitHub takes the app id as number or string
		Iat int64           `json:"iat"`
		Exp int64           `json:"exp"`
	}
	if decodeJWTPart(parts[0], &header) != nil || decodeJWTPart(parts[1], &claims) != nil || header.Alg != "RS256" {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&s.appKey.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return false
	}
	now := time.Now()
	iss := strings.Trim(string(claims.Iss), `"`)
	return iss == strconv.FormatInt(s.opts.AppID, 10) &&
		time.Unix(claims.Exp, 0).After(now) &&
		time.Unix(claims.Iat, 0).Before(now.Add(time.Minute)) &&
		claims.Exp-claims.Iat <= int64(maxJWTLifetime/time.Second)
}

func decodeJWTPart(part string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// createInstallationToken answers POST /app/installations/{id}/access_tokens.
func (s *Server) createInstallationToken(_ *http.Request, p map[string]string) (int, any) {
	if p["installation_id"] != strconv.FormatInt(s.opts.InstallationID, 10) {
		return http.StatusNotFound, notFound
	}
	return http.StatusCreated, map[string]any{
		"token":      s.opts.Token,
		"expires_at": apiTime(time.Now().Add(time.Hour)),
		"permissions": map[string]string{
			"actions": "write", "contents": "write", "deployments": "write", "metadata": "read",
		},
		"repository_selection": "selected",
	}
}
