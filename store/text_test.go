package store

import (
	"fmt"
	"testing"
	"time"
	"unicode/utf8"
)

// tricky are texts PostgreSQL's TEXT refuses, or that look like the
// escaping itself.
var tricky = []string{
	"Jos\xe9 Mar\xeda",              // Latin-1
	"nul\x00inside",                 // git refuses NUL; GitHub's JSON can carry \u0000
	escapedPrefix + "looks escaped", // valid, but must not be read as escaped
	"\xff\\x41 and \\\\",            // an invalid byte beside text that spells an escape
	"ascii only", "", "naïve UTF-8 ✓",
}

func FuzzStoredText(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		stored := toText(s)
		if !utf8.ValidString(stored) || containsNUL(stored) {
			t.Fatalf("toText(%q) = %q, which PostgreSQL's TEXT refuses", s, stored)
		}
		if back := fromText(stored); back != s {
			t.Fatalf("fromText(toText(%q)) = %q", s, back)
		}
	})
}

func containsNUL(s string) bool {
	for i := range len(s) {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// Tag and event text, delivery reasons and audit entries keep their bytes
// on both databases, whatever they are.
func TestTextKeepsItsBytes(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, url string) {
		ctx := ctxT(t)
		s := open(t, url)
		for i, text := range tricky {
			tag := Tag{Repository: "acme/models", Name: "tag-" + text, ObjectSHA: "obj", CommitSHA: "c", Annotated: true,
				Tagger: Tagger{Name: text, Email: text, When: time.Unix(1700000000, 0).UTC()}, Message: text}
			if _, err := s.UpsertTag(ctx, tag); err != nil {
				t.Fatalf("upsert a tag of %q: %v", text, err)
			}
			e, _, err := s.RecordEvent(ctx, Event{Repository: "acme/models", Artifact: "a", Type: EventRegistration,
				TagName: tag.Name, TagObjectSHA: string(rune('a' + i)), Tagger: tag.Tagger, Message: text})
			if err != nil {
				t.Fatalf("record an event of %q: %v", text, err)
			}
			if got, err := s.Event(ctx, e.ID); err != nil || got.TagName != tag.Name || got.Tagger.Name != text || got.Tagger.Email != text || got.Message != text {
				t.Errorf("event of %q read back as %+v, %v", text, got, err)
			}
			d := delivery("d-" + string(rune('a'+i)))
			d.Status, d.Reason = DeliveryIgnored, text
			if _, err := s.Accept(ctx, d); err != nil {
				t.Fatalf("accept a delivery with reason %q: %v", text, err)
			}
			if got, err := s.Delivery(ctx, d.ID); err != nil || got.Reason != text {
				t.Errorf("reason %q read back as %q, %v", text, got.Reason, err)
			}
			a, err := s.RecordAudit(ctx, AuditEntry{Principal: fmt.Sprint("p", i), Via: "api", Repository: "acme/models", Operation: "assign",
				Artifact: text, Request: text, Status: 422, Error: text})
			if err != nil {
				t.Fatalf("audit %q: %v", text, err)
			}
			if got, err := s.Audit(ctx, AuditFilter{Principal: fmt.Sprint("p", i), Artifact: text}); err != nil || len(got) != 1 || got[0].ID != a.ID || got[0].Error != text {
				t.Errorf("audit of %q read back as %+v, %v", text, got, err)
			}
		}
		tags, err := s.Tags(ctx, "acme/models", false)
		if err != nil || len(tags) != len(tricky) {
			t.Fatalf("tags: %d, %v", len(tags), err)
		}
		for _, tag := range tags {
			if tag.Name != "tag-"+tag.Message || tag.Tagger.Name != tag.Message || tag.Tagger.Email != tag.Message {
				t.Errorf("tag read back as %+v", tag)
			}
			if ok, err := s.DeleteTag(ctx, "acme/models", tag.Name); !ok || err != nil {
				t.Errorf("delete %q: %v, %v", tag.Name, ok, err)
			}
		}
	})
}
