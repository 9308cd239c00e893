package ui

import (
	"net/http"

	"github.com/hookd-dev/hookd/store"
)

type auditData struct {
	*Listing
	Entries []store.AuditEntry
}

// audit is the Audit page: who asked for which write, through what, and
// how it was answered, refusals included.
func (h *Handler) audit(w http.ResponseWriter, r *http.Request, s *session) {
	l, ok := h.listingOf(w, r, s, "principal", "artifact")
	if !ok {
		return
	}
	// The audit log names repositories as the API does.
	entries, err := h.store.Audit(r.Context(), store.AuditFilter{Repository: l.Repo, Principal: l.filter("principal"),
		Artifact: l.filter("artifact"), Page: store.Page{Limit: pageSize, Before: l.Before}})
	if err != nil {
		h.storeFailed(w, r, s, err)
		return
	}
	if n := len(entries); n > 0 {
		l.page(n, entries[n-1].ID)
	}
	h.render(w, r, http.StatusOK, "audit", &page{Title: "Audit", Nav: "audit", Session: s, Data: auditData{Listing: l, Entries: entries}})
}
