package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// syncBuffer is a log destination for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// Of River's logging, hookd's log (at debug, its most talkative) keeps a
// failed job, marked as the queue's, at warning level; River's start, stop
// and poll-mode notices come as debug lines, and its internals not at all.
func TestRiverLogsWhatMatters(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := ctxT(t)
	s, err := Open(ctx, filepath.Join(t.TempDir(), "hookd.db"), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var tries atomic.Int32
	err = s.StartWorkers(context.Background(), Workers{
		ProcessDelivery: func(context.Context, Delivery) (Outcome, error) {
			if tries.Add(1) == 1 {
				return Outcome{}, errors.New("the repository is unreachable")
			}
			return Outcome{}, nil
		},
		ReconcileRepository: func(context.Context, string) error { return nil },
		RunAction:           func(context.Context, int64) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Accept(ctx, delivery("d1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job's failure to be logged", func() bool {
		for _, e := range out.lines() {
			if strings.Contains(e["msg"].(string), "Job errored") {
				return true
			}
		}
		return false
	})
	if err := s.StopWorkers(ctx); err != nil {
		t.Fatal(err)
	}
	sawPollNotice := false
	for _, e := range out.lines() {
		msg, level := e["msg"].(string), e["level"].(string)
		switch {
		case strings.Contains(msg, "Job errored"):
			if level != "WARN" || e["component"] != "queue" || e["error"] != "delivery d1: the repository is unreachable" {
				t.Errorf("the failed job was logged as %v", e)
			}
		case strings.Contains(msg, "poll only mode"):
			sawPollNotice = true
			if level != "DEBUG" {
				t.Errorf("River's poll-mode notice at %s: %v", level, e)
			}
		case strings.HasPrefix(msg, "producer:"), strings.HasPrefix(msg, "leadership."), strings.HasPrefix(msg, "maintenance."):
			t.Errorf("River's internals were logged: %v", e)
		case strings.HasPrefix(msg, "River client") && level != "DEBUG":
			t.Errorf("River's start or stop at %s: %v", level, e)
		}
	}
	if !sawPollNotice {
		t.Error("the poll-mode notice is gone even from the debug log")
	}
}
