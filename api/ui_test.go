package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A server whose feature handlers answer as a global's do.
func testServer(t *testing.T) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ln.Close() })
	body := func(b string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, b) }
	}
	s.Mux.HandleFunc("GET /bundle", body(`{"version":"abc123","commit":"deadbeef","resources":3,
		"errors":[{"pos":{"file":"mesh/t.yaml","line":6,"col":11},"message":"spec.targetRef.kind: Nope is not a kind"}],
		"conditions":[{"type":"Ready","status":"False","reason":"ValidationFailed","message":"commit f00 is invalid"},
		              {"type":"Stalled","status":"True","reason":"ValidationFailed","message":"fix the repo"}]}`))
	s.Mux.HandleFunc("GET /zones", body(`[{"name":"zone-a","enabled":true,"online":true,"bundleVersion":"abc123","inSync":true,"dataplanes":3},
		{"name":"zone-b","enabled":true,"online":false,"bundleVersion":"0ld","lastNack":{"direction":"global→zone","reason":"mesh default: bad CA"}}]`))
	s.Mux.HandleFunc("GET /meshes", body(`{"total":1,"items":[{"type":"Mesh","name":"default"}]}`))
	s.Mux.HandleFunc("GET /meshes/{mesh}/dataplanes", body(`{"total":3,"items":[
		{"zone":"zone-a","online":true,"resource":{"networking":{"inbound":[{"tags":{"kuma.io/service":"backend","kuma.io/zone":"zone-a"}}]}}},
		{"zone":"zone-b","online":false,"resource":{"networking":{"inbound":[{"tags":{"kuma.io/service":"backend","kuma.io/zone":"zone-b"}}]}}},
		{"zone":"zone-a","online":true,"resource":{"networking":{"inbound":[{"tags":{"kuma.io/service":"web"}},{"tags":{"kuma.io/service":"web"}}]}}}]}`))
	s.RegisterServiceInsights()
	s.RegisterUI("global")
	return s
}

func get(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestServiceInsightsAggregateDataplanes(t *testing.T) {
	s := testServer(t)
	code, body := get(t, s, "/meshes/default/service-insights")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, body)
	}
	items := serviceInsights(dataplaneList{})
	if len(items) != 0 {
		t.Fatalf("no dataplanes: %v", items)
	}
	for _, want := range []string{
		`"service": "backend"`, `"dataplanes": 2`, `"online": 1`, `"zone-b": 1`, `"status": "partially_degraded"`,
		`"service": "web"`, `"status": "online"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("service insights lack %s:\n%s", want, body)
		}
	}
	// web has two inbounds of one service on one dataplane: counted once.
	if strings.Count(body, `"dataplanes": 1`) != 1 {
		t.Errorf("web counted per inbound, want per dataplane:\n%s", body)
	}
}

func TestUIShowsBundleErrorsZonesAndServices(t *testing.T) {
	s := testServer(t)
	code, page := get(t, s, "/")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, page)
	}
	for _, want := range []string{
		"abc123", "deadbeef", "mesh/t.yaml:6:11", "Nope is not a kind", "Stalled",
		"zone-a", "online", "zone-b", "offline", "bad CA",
		"Mesh default", "backend", "partially_degraded",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if code, _ := get(t, s, "/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope: %d, want 404 (the UI owns only /)", code)
	}
}

func TestUIWithoutFeatureEndpoints(t *testing.T) {
	s, err := Listen("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	s.RegisterUI("zone z")
	if code, page := get(t, s, "/"); code != http.StatusOK || !strings.Contains(page, "meshc — zone z") {
		t.Fatalf("HTTP %d:\n%s", code, page)
	}
}
