package deploy

import (
	"github.com/hookd-dev/hookd/internal/confval"

	"strings"
	"testing"
)

func TestOutputKeepsARedactedTail(t *testing.T) {
	const secret = "hunter2-but-longer"
	o := newOutput([]string{secret})
	r := newRedactor([]string{secret, "hunter2"})
	// The tail is cut in the middle of where the secret was.
	o.Write([]byte(strings.Repeat("a", 3*MaxOutput)))
	o.Write([]byte(secret))
	o.Write([]byte(strings.Repeat("b", MaxOutput-len("\xff end\x00[redacted]\n")-len(confval.Redacted)/2)))
	o.Write([]byte("\xff end\x00hunter2\n"))

	got := o.tail(r)
	if strings.Contains(got, "hunter2") || strings.Contains(got, secret[len(secret)/2:]) {
		t.Errorf("a secret or its end survived: ...%q", got[len(got)-80:])
	}
	if !strings.HasPrefix(got, "[") || !strings.Contains(got[:40], "earlier bytes dropped]") {
		t.Errorf("tail does not say output was dropped: %q", got[:40])
	}
	if !strings.HasSuffix(got, "\uFFFD end\uFFFD[redacted]\n") {
		t.Errorf("tail ends %q", got[len(got)-30:])
	}
	if body := got[strings.Index(got, "\n")+1:]; len(body) > MaxOutput+len("\uFFFD")-1 {
		t.Errorf("kept %d bytes, want at most %d", len(body), MaxOutput)
	}
}
