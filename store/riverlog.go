package store

import (
	"context"
	"log/slog"
)

// riverLogger is the logger River writes to. Operators see what matters
// of it: its warnings and errors (a job that failed and will be retried,
// a query the database refused) at their level, marked component=queue.
// Its notices of starting, stopping and polling (SQLite has no
// LISTEN/NOTIFY, which River announces on every start) are debug lines,
// and its own debug lines, the internals of its producers and
// maintainers, are not logged at all.
func riverLogger(l *slog.Logger) *slog.Logger {
	return slog.New(riverHandler{l.Handler()}).With("component", "queue")
}

type riverHandler struct{ next slog.Handler }

// hookdLevel is what a River record's level becomes in hookd's log;
// anything below Debug is dropped.
func hookdLevel(level slog.Level) slog.Level {
	switch {
	case level < slog.LevelInfo:
		return slog.LevelDebug - 4
	case level < slog.LevelWarn:
		return slog.LevelDebug
	}
	return level
}

func (h riverHandler) Enabled(ctx context.Context, level slog.Level) bool {
	level = hookdLevel(level)
	return level >= slog.LevelDebug && h.next.Enabled(ctx, level)
}

func (h riverHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = hookdLevel(r.Level)
	if r.Level < slog.LevelDebug || !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h riverHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return riverHandler{h.next.WithAttrs(attrs)}
}

func (h riverHandler) WithGroup(name string) slog.Handler {
	return riverHandler{h.next.WithGroup(name)}
}
