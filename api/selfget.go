package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
)

// getJSON serves GET path from mux in-process and decodes the JSON body into
// out. Pages and aggregate views built this way read exactly what the API
// serves, with no dependency on the packages that registered the handlers.
// A 404 (the endpoint does not exist on this server) returns found=false.
func getJSON(mux *http.ServeMux, path string, out any) (found bool, err error) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if _, pattern := mux.Handler(req); pattern == "" {
		return false, nil
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code == http.StatusNotFound {
		return false, nil
	}
	if rec.Code != http.StatusOK {
		return true, fmt.Errorf("GET %s: HTTP %d: %s", path, rec.Code, rec.Body.String())
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		return true, fmt.Errorf("GET %s: %w", path, err)
	}
	return true, nil
}
