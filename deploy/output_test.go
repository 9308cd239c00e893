package deploy

import (
	"strings"
	"testing"

	"github.com/hookd-dev/hookd/internal/confval"
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

// A secret that a kept tail would cut in two is dropped whole: no part of
// it is stored, whatever the lengths of the lines around it.
func TestTailNeverKeepsPartOfASecret(t *testing.T) {
	secret := "ghp_" + strings.Repeat("S", 36)
	for pad := range 64 {
		out := newOutput([]string{secret})
		r := newRedactor([]string{secret})
		line := strings.Repeat("-", pad) + "> Authorization: Bearer " + secret + "\n" // as curl -v prints
		// Write until the buffer has just trimmed its front, where a
		// secret may have been cut in two.
		for {
			before := len(out.buf)
			out.Write([]byte(line))
			if len(out.buf) < before {
				break
			}
		}
		tail := out.tail(r)
		if strings.Contains(tail, "SSSS") {
			t.Fatalf("line length %d: the stored tail keeps part of the secret: %q", len(line), tail[:min(len(tail), 120)])
		}
		if !strings.HasSuffix(tail, "Bearer [redacted]\n") {
			t.Fatalf("line length %d: tail ends %q", len(line), tail[max(0, len(tail)-40):])
		}
	}
}
