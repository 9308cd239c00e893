package gitdir_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookd-dev/hookd/source/gitdir"
)

// FuzzPostReceiveInput feeds what git hands the post-receive hook: any
// "old new ref" lines, and any tag object content. Neither reader panics;
// every update comes from a line of three fields; and a well-formed tag
// object built from the input comes back field for field, its tagger's
// offset kept.
func FuzzPostReceiveInput(f *testing.F) {
	zero, sha := strings.Repeat("0", 40), strings.Repeat("a", 40)
	f.Add(zero+" "+sha+" refs/tags/churn@v1.0.0\n", "churn@v1.0.0", "Ada", "ada@example.com", int64(1700000000), 60, "register\n")
	f.Add(sha+" "+zero+" refs/tags/churn#prod#1\n"+zero+" "+sha+" refs/heads/main\n", "churn#prod#1", "Jos\xe9", "j@example.com", int64(1), -210, "")
	f.Add("one two\n", "x", "", "", int64(-5), 0, "m\n\nbody\n-----BEGIN PGP SIGNATURE-----\n")
	f.Add("\n\n"+zero+"  "+sha+"\trefs/tags/a\r\n", "a", "<", ">", int64(0), 840, "\x00")
	f.Fuzz(func(t *testing.T, stdin, name, tagger, email string, unix int64, offsetMinutes int, message string) {
		if updates, err := gitdir.ReadRefUpdates(strings.NewReader(stdin)); err == nil {
			if len(updates) > strings.Count(stdin, "\n")+1 {
				t.Fatalf("ReadRefUpdates(%q): %d updates from fewer lines", stdin, len(updates))
			}
			for _, u := range updates {
				if u.Old == "" || u.New == "" || u.Ref == "" || strings.ContainsAny(u.Old+u.New+u.Ref, " \t\r\n") {
					t.Fatalf("ReadRefUpdates(%q) read %+v", stdin, u)
				}
			}
		}
		gitdir.ParseTagObject([]byte(stdin)) // any bytes at all

		if strings.ContainsAny(name+tagger+email, "\n<>") || strings.TrimSpace(tagger) != tagger || offsetMinutes <= -24*60 || offsetMinutes >= 24*60 {
			return // not what git writes in a tag object
		}
		when := time.Unix(unix, 0).In(time.FixedZone("", offsetMinutes*60))
		raw := fmt.Sprintf("object %s\ntype commit\ntag %s\ntagger %s <%s> %d %s\n\n%s", sha, name, tagger, email, unix, when.Format("-0700"), message)
		got := gitdir.ParseTagObject([]byte(raw))
		if got.Object != sha || got.Type != "commit" || got.Name != name || got.Message != message ||
			got.Tagger.Name != tagger || got.Tagger.Email != email || !got.Date.Equal(when) || got.Date.Format("-0700") != when.Format("-0700") {
			t.Fatalf("ParseTagObject(%q) = %+v", raw, got)
		}
	})
}
