package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// page is what every template gets: the layout's needs and the page's own
// data.
type page struct {
	Title   string
	Nav     string // the section it belongs to: models, runs, deliveries, audit
	Session *session
	// CSRF is what the page's forms send: the session's token, or the
	// sign-in form's.
	CSRF string
	Data any
}

// parsePages parses each page template with the layout; a page's
// fragments (the parts htmx re-fetches) are templates named after the id
// of the element they fill.
func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html"))
	pages := map[string]*template.Template{}
	names, _ := fs.Glob(templateFiles, "templates/*.html")
	for _, name := range names {
		key := strings.TrimSuffix(path.Base(name), ".html")
		if key == "layout" {
			continue
		}
		pages[key] = template.Must(template.Must(base.Clone()).ParseFS(templateFiles, name))
	}
	return pages
}

// render answers with a page; to htmx asking for an element the page has
// a fragment for, with that fragment alone.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	tmpl := "layout"
	if id := target(r); id != "" && h.pages[name].Lookup(id) != nil {
		tmpl = id
	}
	h.fragment(w, status, name, tmpl, p)
}

// fragment answers with one named template of a page.
func (h *Handler) fragment(w http.ResponseWriter, status int, name, tmpl string, p *page) {
	if p.Session != nil {
		p.CSRF = p.Session.CSRF
	}
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, tmpl, p); err != nil {
		h.log.Error("dashboard: rendering failed", "page", name, "template", tmpl, "error", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type problem struct {
	Heading string
	Message string
}

// refuse answers with a message: a page of its own, or to htmx the
// message alone, swapped where the answer was expected.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, s *session, status int, message string) {
	heading := http.StatusText(status)
	if htmx(r) {
		h.fragment(w, status, "problem", "message", &page{Session: s, Data: problem{Heading: heading, Message: message}})
		return
	}
	h.render(w, r, status, "problem", &page{Title: heading, Session: s, Data: problem{Heading: heading, Message: message}})
}

// notFound is the 404 page.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, s *session, message string) {
	h.refuse(w, r, s, http.StatusNotFound, message)
}

// storeFailed answers a read or re-queue the database did not answer.
func (h *Handler) storeFailed(w http.ResponseWriter, r *http.Request, s *session, err error) {
	h.log.Error("dashboard: store error", "path", r.URL.Path, "error", err)
	h.refuse(w, r, s, http.StatusServiceUnavailable, "The database did not answer; try again in a moment.")
}

var funcs = template.FuncMap{
	"ago":         ago,
	"when":        when,
	"iso":         func(t time.Time) string { return t.Format(time.RFC3339) },
	"short":       short,
	"icon":        icon,
	"duration":    duration,
	"join":        strings.Join,
	"artifactURL": artifactURL,
	"query": func(kv ...string) template.URL {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				v.Set(kv[i], kv[i+1])
			}
		}
		return template.URL(v.Encode())
	},
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
}

// artifactURL is an artifact's page.
func artifactURL(repo, name string) string {
	return "/ui/repos/" + repo + "/artifacts/" + url.PathEscape(name)
}

// ago is a time as people say it: "3 min ago".
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
	return t.Format("2 Jan 2006")
}

// when is an exact time, in its own offset.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2006-01-02 15:04:05 -07:00")
}

func short(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}

// icon is the symbol shown beside a status word, so that a status reads
// without colour.
func icon(status string) string {
	switch status {
	case "succeeded", "processed", "in sync", "ok":
		return "✓"
	case "failed", "refused", "drift":
		return "✗"
	case "running", "deploying":
		return "↻"
	case "queued":
		return "…"
	case "superseded", "ignored":
		return "–"
	}
	return "•"
}

// duration is a length of time rounded for reading.
func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}
