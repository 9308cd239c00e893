package ingest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// realisticPush is a branch push of a few commits, the size of what GitHub
// sends most (about 8 KB).
func realisticPush(ref string) []byte {
	var commits []string
	for i := range 6 {
		commits = append(commits, fmt.Sprintf(`{"id":"%040d","tree_id":"%040d","distinct":true,
			"message":"Retrain churn \u00e9 model, pass %d\n\nWith \"quotes\" and a tab\t.","timestamp":"2026-11-30T10:0%d:00+01:00",
			"url":"https://github.com/acme/models/commit/%040d",
			"author":{"name":"Ada Lovelace","email":"ada@example.com","username":"ada"},
			"committer":{"name":"GitHub","email":"noreply@github.com","username":"web-flow"},
			"added":["models/churn/model.pkl","models/churn/metrics.json"],"removed":[],"modified":["dvc.lock","params.yaml"]}`,
			i, i, i, i, i))
	}
	return []byte(`{"ref":"` + ref + `","before":"1111111111111111111111111111111111111111",
		"after":"0000000000000000000000000000000000000005","created":false,"deleted":false,"forced":false,
		"base_ref":null,"compare":"https://github.com/acme/models/compare/111...000",
		"commits":[` + strings.Join(commits, ",") + `],"head_commit":` + commits[len(commits)-1] + `,
		"repository":{"id":123456789,"node_id":"R_kgDO","name":"models","full_name":"acme/models","private":true,
			"owner":{"name":"acme","login":"acme","id":1,"site_admin":false},"size":0.5e3,"stargazers_count":-0,
			"topics":[],"license":null,"pushed_at":1764496800},
		"pusher":{"name":"ada","email":"ada@example.com"},"sender":{"login":"ada","id":2,"type":"User"}}`)
}

// parseGitHub agrees with json.Unmarshal into gitHubPayload: the same
// fields, an error for the same inputs.
func FuzzParseGitHub(f *testing.F) {
	for _, seed := range []string{
		string(realisticPush("refs/heads/main")),
		string(realisticPush("refs/tags/churn@v1.2.0")),
		`{"ref":"v1","ref_type":"tag","repository":{"full_name":"acme/models"}}`,
		`null`, ` {} `, `[]`, `"push"`, `7`, `{"ref":null,"deleted":null,"head_commit":null}`,
		`{"REF":"a","Ref":"b","rEf":"c"}`, `{"repoſitory":{"FULL_NAME":"x"}}`,
		`{"ref":"\u0072\ud83d\ude00\ud800x\\\/\b\f\n\r\t"}`, "{\"ref\":\"\xff\xfe\"}",
		`{"\u0072ef":"escaped key"}`, `{"head_commit":{"id":"x"},"head_commit":{}}`,
		`{"head_commit":{"id":"x"},"head_commit":null,"head_commit":{}}`,
		`{"ref":1}`, `{"deleted":"true"}`, `{"repository":"acme/models"}`, `{"head_commit":[]}`,
		`{"a":[1,2.5,-0.1e+3,true,false,null,{"b":[]}]}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`,
		`{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":1,}`, `{,}`, `{"a"}`, `{"a":1}x`,
		`{"a":tru}`, `{"ref":"a"} `, ``, `   `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want gitHubPayload
		wantErr := json.Unmarshal(b, &want)
		got, err := parseGitHub(b)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: parseGitHub error %v, json.Unmarshal error %v", b, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseGitHub %+v, json.Unmarshal %+v", b, describe(got), describe(want))
		}
		// What an ignored push keeps of its payload reads back the same.
		if pv, err := PreviewGitHub("push", b); err == nil && pv.Kept != nil {
			kept, err := parseGitHub(pv.Kept)
			if err != nil || !reflect.DeepEqual(kept, got) {
				t.Fatalf("%q: kept %q reads as %+v (%v), the payload as %+v", b, pv.Kept, describe(kept), err, describe(got))
			}
		}
	})
}

// Nesting deeper than encoding/json's limit is an error for both.
func TestParseGitHubDepth(t *testing.T) {
	for depth, wantErr := range map[int]bool{9999: false, 10000: true} {
		b := []byte(`{"a":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
		if err := json.Unmarshal(b, new(gitHubPayload)); (err != nil) != wantErr {
			t.Fatalf("depth %d: json.Unmarshal error %v, want error %v", depth, err, wantErr)
		}
		if _, err := parseGitHub(b); (err != nil) != wantErr {
			t.Errorf("depth %d: parseGitHub error %v, want error %v", depth, err, wantErr)
		}
	}
}

// plainRun reads eight bytes at a time; where it stops must be the first
// byte of note, whichever of the eight it is and whatever follows it (a
// borrow in the arithmetic flags bytes above a flagged one).
func TestPlainRunStopsAtTheFirstByteOfNote(t *testing.T) {
	naive := func(b []byte) int {
		for i, c := range b {
			if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				return i
			}
		}
		return len(b)
	}
	notable := []byte{0x00, 0x1f, '"', '\\', 0x80, 0xc3, 0xff}
	plain := []byte{0x20, '!', '#', '[', ']', 'a', '~', 0x7f}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			if r.IntN(6) == 0 {
				b[i] = notable[r.IntN(len(notable))]
			} else {
				b[i] = plain[r.IntN(len(plain))]
			}
		}
		if got, want := plainRun(b), naive(b); got != want {
			t.Fatalf("plainRun(%q) = %d, want %d", b, got, want)
		}
	}
}

func describe(p gitHubPayload) string {
	s := fmt.Sprintf("ref=%q ref_type=%q after=%q deleted=%v", p.Ref, p.RefType, p.After, p.Deleted)
	if p.HeadCommit != nil {
		s += fmt.Sprintf(" head_commit.id=%q", p.HeadCommit.ID)
	}
	if p.Repository != nil {
		s += fmt.Sprintf(" repository.full_name=%q", p.Repository.FullName)
	}
	return s
}

func BenchmarkParseGitHub(b *testing.B) {
	body := realisticPush("refs/heads/main")
	b.Run("parseGitHub", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := parseGitHub(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var p gitHubPayload
			if err := json.Unmarshal(body, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
