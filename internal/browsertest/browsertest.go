// Package browsertest runs pages in a real headless Chromium for tests,
// through chromedp, and saves screenshots of them for a person to look
// at: each at a desktop width (1280 px) and a phone width (390 px), into
// the folder $HOOKD_SCREENSHOTS names (t.TempDir() when it is unset).
//
// The browser is Debian's chromium (.ci/run installs it); a test without
// it skips, and fails instead under HOOKD_TEST_REQUIRE (package testenv).
// It starts with a fresh profile, without sandbox, GPU, background
// networking, component updates or sync, so it talks to nothing but the
// test's servers on 127.0.0.1.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hookd-dev/hookd/internal/testenv"
)

// ScreenshotsEnv names the folder screenshots are saved in.
const ScreenshotsEnv = "HOOKD_SCREENSHOTS"

// Widths are the viewport widths every screenshot is taken at.
var Widths = []struct {
	Name          string
	Width, Height int64
	Mobile        bool
}{
	{"desktop", 1280, 800, false},
	{"phone", 390, 844, true},
}

// Browser is one headless Chromium with one tab.
type Browser struct {
	t   testing.TB
	ctx context.Context
	dir string
}

// New starts a browser for the test; it stops when the test ends. Every
// action through Run is bounded by timeout.
func New(t testing.TB) *Browser {
	t.Helper()
	path := testenv.Chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// The first call starts the browser, and lives as long as ctx: it has
	// no timeout of its own.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Browser{t: t, ctx: ctx, dir: dir}
}

// timeout bounds one Run.
const timeout = 30 * time.Second

// Do performs actions in the tab, failing the test on error.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := b.Try(actions...); err != nil {
		b.t.Fatal(err)
	}
}

// Try performs actions in the tab and returns their error.
func (b *Browser) Try(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Get runs an action that returns a value, failing the test on error.
func Get[T any](b *Browser, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := Ask(b, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// Ask runs an action that returns a value, and returns its error.
func Ask[T any](b *Browser, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// Screenshot saves the whole page as NAME-desktop.png and NAME-phone.png
// and returns their paths; the viewport is back at desktop width after.
func (b *Browser) Screenshot(name string) []string {
	b.t.Helper()
	name = unsafeName.ReplaceAllString(name, "-")
	var paths []string
	for _, w := range Widths {
		var opts []chromedp.EmulateViewportOption
		if w.Mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
		}
		b.Do(chromedp.EmulateViewport(w.Width, w.Height, opts...),
			chromedp.Sleep(150*time.Millisecond)) // let the layout settle at the new width
		png := Get(b, chromedp.FullScreenshot(100))
		p := filepath.Join(b.dir, name+"-"+w.Name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		paths = append(paths, p)
	}
	b.Do(chromedp.EmulateViewport(Widths[0].Width, Widths[0].Height))
	return paths
}
