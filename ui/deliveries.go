package ui

import (
	"errors"
	"net/http"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/store"
)

var deliveryStatuses = []string{string(store.DeliveryQueued), string(store.DeliveryProcessed), string(store.DeliveryIgnored), string(store.DeliveryFailed)}

type deliveryRow struct {
	store.Delivery
	Repo      string
	Events    []eventRow
	CanReplay bool
}

type eventRow struct {
	store.Event
	Repo string
}

type deliveriesData struct {
	*Listing
	Statuses   []string
	Deliveries []deliveryRow
	// Relisted are the newest events no delivery brought: the re-listing
	// of tags found them, because no webhook arrived for them.
	Relisted []eventRow
}

// eventsPerDelivery bounds the events listed beside one delivery.
const eventsPerDelivery = 20

// deliveries is the Deliveries page: what arrived, pings included, what
// it produced, and what arrived without a webhook.
func (h *Handler) deliveries(w http.ResponseWriter, r *http.Request, s *session) {
	l, ok := h.listingOf(w, r, s, "status", "event")
	if !ok {
		return
	}
	status := l.status(deliveryStatuses)
	d := deliveriesData{Listing: l, Statuses: deliveryStatuses}
	ds, err := h.store.Deliveries(r.Context(), store.DeliveryFilter{Repository: l.identity, Status: store.DeliveryStatus(status),
		Event: l.filter("event"), Page: store.Page{Limit: pageSize, Before: l.Before}})
	for i := 0; err == nil && i < len(ds); i++ {
		row := deliveryRow{Delivery: ds[i], Repo: h.apiName(ds[i].Repository)}
		row.CanReplay = !ds[i].Pruned && s.Principal.Allows(access.Request{Repository: row.Repo, Operation: access.Retry})
		var evs []store.Event
		evs, err = h.store.Events(r.Context(), store.EventFilter{DeliveryID: ds[i].ID, Page: store.Page{Limit: eventsPerDelivery}})
		for _, e := range evs {
			row.Events = append(row.Events, eventRow{Event: e, Repo: row.Repo})
		}
		d.Deliveries = append(d.Deliveries, row)
	}
	if err == nil && l.Before == 0 {
		var evs []store.Event
		evs, err = h.store.Events(r.Context(), store.EventFilter{Repository: l.identity, Relisted: true, Page: store.Page{Limit: 20}})
		for _, e := range evs {
			d.Relisted = append(d.Relisted, eventRow{Event: e, Repo: h.apiName(e.Repository)})
		}
	}
	if err != nil {
		h.storeFailed(w, r, s, err)
		return
	}
	if n := len(ds); n > 0 {
		l.page(n, ds[n-1].Seq)
	}
	h.render(w, r, http.StatusOK, "deliveries", &page{Title: "Deliveries", Nav: "deliveries", Session: s, Data: d})
}

// replay processes a stored delivery again.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	dl, err := h.store.Delivery(r.Context(), id)
	if err == nil && !s.Principal.Allows(access.Request{Repository: h.apiName(dl.Repository), Operation: access.Read}) {
		err = store.ErrNotFound
	}
	if err == nil {
		err = s.Principal.Check(access.Request{Repository: h.apiName(dl.Repository), Operation: access.Retry})
	}
	if err == nil {
		err = h.store.Replay(r.Context(), id)
	}
	var denied *access.DeniedError
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.notFound(w, r, s, "There is no delivery "+id+".")
		return
	case errors.As(err, &denied):
		h.refuse(w, r, s, http.StatusForbidden, err.Error())
		return
	case errors.Is(err, store.ErrPruned):
		h.refuse(w, r, s, http.StatusConflict, "The delivery's payload was pruned by retention; it cannot be replayed.")
		return
	case err != nil:
		h.storeFailed(w, r, s, err)
		return
	}
	h.log.Info("delivery replayed", "delivery", id, "principal", s.Principal.Name, "via", "dashboard")
	http.Redirect(w, r, localBack(r.PostFormValue("back"), "/ui/deliveries"), http.StatusSeeOther)
}

// localBack is where a form returns to: the page it was sent from, when
// that is a dashboard page.
func localBack(back, fallback string) string {
	if next := localNext(back); next != "/ui/" || back == "/ui/" {
		return next
	}
	return fallback
}
