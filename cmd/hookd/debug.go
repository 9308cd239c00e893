package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// serveDebug serves net/http/pprof's profiles on addr (config debug_listen),
// a listener of its own: the public one never routes to them. An empty addr
// serves nothing. The returned function stops the server.
func serveDebug(logger *slog.Logger, addr string) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// A CPU profile or trace lasts as long as its ?seconds= asks.
	return serveAside(logger, listener{key: "debug_listen", up: "profiles served (net/http/pprof)",
		down: "debug listener stopped"}, addr, mux, 5*time.Minute)
}

// listener names a listener beside the public one: its configuration key,
// and what the log says when it is up and when it stopped by itself.
type listener struct{ key, up, down string }

// serveAside serves h on addr, a listener of its own beside the public
// one, until the returned function stops it.
func serveAside(logger *slog.Logger, l listener, addr string, h http.Handler, writeTimeout time.Duration) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.key, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Error(l.down, "address", ln.Addr().String(), "error", err)
		}
	}()
	logger.Info(l.up, "address", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}
