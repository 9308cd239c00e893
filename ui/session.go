package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookd-dev/hookd/access"
)

const (
	sessionCookie = "hookd_session"
	signInCookie  = "hookd_signin"
	// sessionLifetime is how long a sign-in lasts.
	sessionLifetime = 12 * time.Hour
	// maxFormBytes bounds a form's body; the largest is a tag message.
	maxFormBytes = 64 << 10
)

// session is a signed-in request: who, and the CSRF token its forms carry.
type session struct {
	Principal access.Principal
	CSRF      string
}

// principalOf finds the token's principal. Every configured hash is
// compared, in constant time, as the API does, so the answer's timing
// says nothing about how close a guess was.
func (h *Handler) principalOf(token string) (access.Principal, bool) {
	sum := sha256.Sum256([]byte(token))
	var (
		who   access.Principal
		found bool
	)
	for hash, p := range *h.tokens.Load() {
		if subtle.ConstantTimeCompare(sum[:], hash[:]) == 1 {
			who, found = p, true
		}
	}
	return who, found
}

// csrfFor is the CSRF token of a session: only who holds the session's
// token can compute it, and it needs no state on the server.
func csrfFor(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("hookd dashboard csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func sameSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// sessionOf reads the session cookie; nil when there is none or its token
// is not (or no longer) configured.
func (h *Handler) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(raw) == 0 {
		return nil
	}
	token := string(raw)
	p, ok := h.principalOf(token)
	if !ok {
		return nil
	}
	return &session{Principal: p, CSRF: csrfFor(token)}
}

// session lets a signed-in request through to next; a form must carry
// the session's CSRF token. Others are sent to the sign-in page.
func (h *Handler) session(next func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s := h.sessionOf(r)
		if s == nil {
			signIn := "/ui/signin?next=" + url.QueryEscape(r.URL.RequestURI())
			switch {
			case htmx(r):
				w.Header().Set("HX-Redirect", signIn)
				w.WriteHeader(http.StatusUnauthorized)
			case r.Method == http.MethodGet:
				http.Redirect(w, r, signIn, http.StatusSeeOther)
			default:
				h.signInForm(w, r, http.StatusUnauthorized, "Sign in first: your session has ended.")
			}
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if !sameSecret(r.PostFormValue("csrf"), s.CSRF) {
				h.log.Warn("dashboard: form refused without its CSRF token", "principal", s.Principal.Name, "path", r.URL.Path)
				h.refuse(w, r, s, http.StatusForbidden, "This form did not come from this dashboard session (its CSRF token is missing or wrong), so nothing was done. Reload the page and try again.")
				return
			}
		}
		next(w, r, s)
	})
}

func (h *Handler) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/ui/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: h.secure || r.TLS != nil}
}

// localNext is where to go after signing in: a dashboard page, never
// another site.
func localNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request) {
	if h.sessionOf(r) != nil {
		http.Redirect(w, r, localNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	h.signInForm(w, r, http.StatusOK, "")
}

type signInData struct {
	Next    string
	Problem string
	NoToken bool
}

// signInForm renders the sign-in form. Its CSRF token is a random value
// kept in a cookie of its own, so that another site cannot sign a
// visitor in with a token of its choosing.
func (h *Handler) signInForm(w http.ResponseWriter, r *http.Request, status int, problem string) {
	w.Header().Set("Cache-Control", "no-store")
	value := ""
	if c, err := r.Cookie(signInCookie); err == nil && len(c.Value) >= 32 {
		value = c.Value
	} else {
		var b [24]byte
		_, _ = rand.Read(b[:])
		value = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(w, h.cookie(r, signInCookie, value, 3600))
	}
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	h.render(w, r, status, "signin", &page{Title: "Sign in", CSRF: value,
		Data: signInData{Next: localNext(next), Problem: problem, NoToken: len(*h.tokens.Load()) == 0}})
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	c, err := r.Cookie(signInCookie)
	if err != nil || !sameSecret(r.PostFormValue("csrf"), c.Value) {
		h.signInForm(w, r, http.StatusForbidden, "This form had expired or did not come from this page (its CSRF token is missing or wrong). Try again.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if _, ok := h.principalOf(token); !ok || token == "" {
		h.log.Warn("dashboard: sign-in with an unknown token")
		h.signInForm(w, r, http.StatusUnauthorized, "That token is not one of hookd's. Use an API token from hookd's configuration (tokens:).")
		return
	}
	http.SetCookie(w, h.cookie(r, sessionCookie, base64.RawURLEncoding.EncodeToString([]byte(token)), int(sessionLifetime.Seconds())))
	http.SetCookie(w, h.cookie(r, signInCookie, "", -1))
	http.Redirect(w, r, localNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, _ *session) {
	http.SetCookie(w, h.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}
