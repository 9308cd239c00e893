package confval

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDurations(t *testing.T) {
	var v struct {
		A, B, C Duration
	}
	if err := yaml.Unmarshal([]byte("a: 90s\nb: 30d\nc: 1h30m\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.A.Std() != 90*time.Second || v.B.Std() != 30*24*time.Hour || v.C.Std() != 90*time.Minute {
		t.Errorf("parsed %v %v %v", v.A.Std(), v.B.Std(), v.C.Std())
	}
	if got := Duration(0).Or(time.Minute); got != time.Minute {
		t.Errorf("unset Or = %v", got)
	}
	if got := v.A.Or(time.Minute); got != 90*time.Second {
		t.Errorf("set Or = %v", got)
	}
	for _, bad := range []string{"soon", "-5s", "1.5d", "[1s]"} {
		err := yaml.Unmarshal([]byte("a:\n  "+bad+"\n"), &v)
		if err == nil || !strings.Contains(err.Error(), "line 2:") || !strings.Contains(err.Error(), "is not a duration") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	s := Secret("hunter2")
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", s, "struct", struct{ S Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %#v %+v", s, s, s, struct{ S Secret }{s}), logged.String()} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "[redacted]") {
			t.Errorf("secret leaked or not marked: %q", out)
		}
	}
	if Secret("").String() != "" {
		t.Errorf("an unset secret should print empty")
	}
}
