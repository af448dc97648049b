// Package api is the HTTP server of the global and of each zone: JSON API
// (Kuma-like paths, DESIGN.md §4), /healthz, /metrics (Prometheus) and the web
// UI. Features register their handlers on Mux; the server owns the listener
// and the shutdown.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves the HTTP API on one address.
type Server struct {
	Mux      *http.ServeMux
	Registry *prometheus.Registry
	log      *slog.Logger
	ln       net.Listener
}

// Listen binds addr (port 0 picks a free port) and returns a server whose Mux
// already has /healthz and /metrics. The bound address is logged.
func Listen(addr string, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api: listen %s: %w (choose another --api-addr)", addr, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{Mux: http.NewServeMux(), Registry: reg, log: log, ln: ln}
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.Mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	log.Info("api listening", "addr", ln.Addr().String())
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until ctx is done, then shuts down gracefully (5 s).
func (s *Server) Serve(ctx context.Context) error {
	hs := &http.Server{Handler: s.Mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// WriteJSON writes v as indented JSON with the status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error is the body of every error response: what was wrong, and where.
type Error struct {
	Title   string       `json:"title"`
	Details string       `json:"details,omitempty"`
	Causes  []ErrorCause `json:"causes,omitempty"`
}

// ErrorCause names a field and what is wrong with it.
type ErrorCause struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// WriteError writes an Error with the status code.
func WriteError(w http.ResponseWriter, code int, title, details string, causes ...ErrorCause) {
	WriteJSON(w, code, Error{Title: title, Details: details, Causes: causes})
}
