package store

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func auditEntry(repo, principal, artifact string) AuditEntry {
	return AuditEntry{Principal: principal, Via: "api", Repository: repo, Operation: "assign",
		Artifact: artifact, Version: "v1.0.0", Stage: "prod",
		Request: `{"artifact":"` + artifact + `","version":"v1.0.0","stage":"prod"}`, Status: 201,
		Tags: []string{artifact + "#prod#1"}}
}

// An entry reads back as it was recorded, with the ID and time the store gave it.
func TestRecordAuditRoundTrip(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)

		before := time.Now()
		ok, err := s.RecordAudit(ctx, auditEntry("acme/models", "ci-token", "churn"))
		if err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		if ok.ID == 0 {
			t.Error("no ID assigned")
		}
		if ok.At.Before(before.Truncate(time.Microsecond)) || ok.At.After(after) {
			t.Errorf("At = %v, want between %v and %v", ok.At, before, after)
		}

		// A refused request: no tags (nil), an explicit time in another zone
		// with nanoseconds the store cannot keep.
		at := time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.FixedZone("", -7*3600))
		refused := AuditEntry{At: at, Principal: "ann", Via: "slack", Repository: "acme/models",
			Operation: "deprecate", Artifact: "fraud", Request: `{"artifact":"fraud"}`, Status: 403,
			Error: "ann may not deprecate in acme/models"}
		got, err := s.RecordAudit(ctx, refused)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID <= ok.ID {
			t.Errorf("second entry has ID %d, first %d", got.ID, ok.ID)
		}
		if !got.At.Equal(at.Truncate(time.Microsecond)) {
			t.Errorf("explicit At came back as %v, want %v", got.At, at.Truncate(time.Microsecond))
		}
		if got.Tags == nil || len(got.Tags) != 0 {
			t.Errorf("returned Tags = %#v, want empty and not nil", got.Tags)
		}

		all, err := s.Audit(ctx, AuditFilter{})
		if err != nil || len(all) != 2 {
			t.Fatalf("Audit: %d entries, %v; want 2", len(all), err)
		}
		// Newest first, and exactly what RecordAudit returned.
		for i, want := range []AuditEntry{got, ok} {
			if !reflect.DeepEqual(all[i], want) {
				t.Errorf("entry %d read back as\n%+v\nwant\n%+v", i, all[i], want)
			}
		}
		if all[0].Tags == nil {
			t.Error("read-back Tags is nil")
		}
		if !slices.Equal(all[1].Tags, []string{"churn#prod#1"}) || all[1].Status != 201 || all[0].Status != 403 ||
			all[0].Error == "" || all[0].Via != "slack" || all[0].Operation != "deprecate" {
			t.Errorf("fields lost: %+v", all)
		}
	})
}

func TestAuditFilterAndPage(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		entries := []AuditEntry{
			auditEntry("acme/models", "ann", "churn"),
			auditEntry("acme/models", "bob", "churn"),
			auditEntry("acme/models", "ann", "fraud"),
			auditEntry("acme/other", "ann", "churn"),
			auditEntry("acme/other", "bob", "fraud"),
			auditEntry("acme/models", "bob", "fraud"),
			auditEntry("acme/models", "ann", "churn"),
		}
		ids := map[int64]int{} // ID -> index in entries
		for i, e := range entries {
			got, err := s.RecordAudit(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			ids[got.ID] = i
		}
		// check lists f and compares with the entries matching by hand, newest first.
		check := func(f AuditFilter, match func(AuditEntry) bool) {
			t.Helper()
			got, err := s.Audit(ctx, f)
			if err != nil {
				t.Fatalf("Audit(%+v): %v", f, err)
			}
			var want []int
			for i := len(entries) - 1; i >= 0; i-- {
				if match(entries[i]) {
					want = append(want, i)
				}
			}
			var have []int
			for _, e := range got {
				have = append(have, ids[e.ID])
			}
			if !slices.Equal(have, want) {
				t.Errorf("Audit(%+v) = entries %v, want %v", f, have, want)
			}
		}
		check(AuditFilter{}, func(AuditEntry) bool { return true })
		check(AuditFilter{Repository: "acme/other"}, func(e AuditEntry) bool { return e.Repository == "acme/other" })
		check(AuditFilter{Principal: "bob"}, func(e AuditEntry) bool { return e.Principal == "bob" })
		check(AuditFilter{Artifact: "fraud"}, func(e AuditEntry) bool { return e.Artifact == "fraud" })
		check(AuditFilter{Repository: "acme/models", Principal: "ann", Artifact: "churn"}, func(e AuditEntry) bool {
			return e.Repository == "acme/models" && e.Principal == "ann" && e.Artifact == "churn"
		})
		check(AuditFilter{Principal: "nobody"}, func(AuditEntry) bool { return false })

		// Paging by 3 visits every entry once, newest first.
		var seen []int64
		page := Page{Limit: 3}
		for range len(entries) {
			got, err := s.Audit(ctx, AuditFilter{Page: page})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > 3 {
				t.Fatalf("page of %d entries with Limit 3", len(got))
			}
			if len(got) == 0 {
				break
			}
			for _, e := range got {
				seen = append(seen, e.ID)
			}
			page.Before = got[len(got)-1].ID
		}
		if len(seen) != len(entries) || !slices.IsSortedFunc(seen, func(a, b int64) int { return int(b - a) }) ||
			len(slices.Compact(slices.Clone(seen))) != len(seen) {
			t.Errorf("paging visited %v, want all %d IDs once, descending", seen, len(entries))
		}
		// Paging combines with a filter.
		got, err := s.Audit(ctx, AuditFilter{Principal: "ann", Page: Page{Limit: 2}})
		if err != nil || len(got) != 2 {
			t.Fatalf("first filtered page: %d, %v", len(got), err)
		}
		rest, err := s.Audit(ctx, AuditFilter{Principal: "ann", Page: Page{Before: got[1].ID}})
		if err != nil || len(rest) != 2 {
			t.Fatalf("second filtered page: %d, %v; want the remaining 2 of ann's 4", len(rest), err)
		}
		for _, e := range append(got, rest...) {
			if e.Principal != "ann" {
				t.Errorf("filtered page has %s's entry", e.Principal)
			}
		}
		if got[1].ID <= rest[0].ID {
			t.Errorf("pages overlap: %d then %d", got[1].ID, rest[0].ID)
		}
	})
}
