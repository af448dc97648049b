package kds

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/meshc/meshc/api"
	"github.com/meshc/meshc/schema"
)

// GlobalReadOnly is the message of a refused policy write at the global.
const GlobalReadOnly = "the global is read-only: Git is the only writer of meshes and policies; commit the change to the repository the global watches"

// RegisterAPI adds the zone lifecycle and inventory endpoints of the global:
//
//	GET /zones, GET /zones/{name}, DELETE /zones/{name}
//	GET /zone-ingresses, GET /zone-egresses
//	GET /meshes/{mesh}/dataplanes[/{name}]  (inventory reported by zones)
//
// and refuses writes of meshes, policies and zone resources (405).
func (s *Server) RegisterAPI(mux *http.ServeMux) {
	mux.HandleFunc("GET /zones", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, s.Zones())
	})
	mux.HandleFunc("GET /zones/{name}", func(w http.ResponseWriter, r *http.Request) {
		z, ok := s.Zone(r.PathValue("name"))
		if !ok {
			api.WriteError(w, http.StatusNotFound, "zone not found", "no zone named "+r.PathValue("name")+" has connected or is declared in Git")
			return
		}
		api.WriteJSON(w, http.StatusOK, z)
	})
	mux.HandleFunc("DELETE /zones/{name}", func(w http.ResponseWriter, r *http.Request) {
		err := s.DeleteZone(r.PathValue("name"))
		switch {
		case err == nil:
			api.WriteJSON(w, http.StatusOK, map[string]string{"deleted": r.PathValue("name")})
		case errors.Is(err, errDeleteOnline):
			api.WriteError(w, http.StatusConflict, err.Error(), "")
		case errors.Is(err, ErrNotFound):
			api.WriteError(w, http.StatusNotFound, "zone not found", err.Error())
		default:
			api.WriteError(w, http.StatusInternalServerError, "delete zone", err.Error())
		}
	})
	mux.HandleFunc("GET /zone-ingresses", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, itemsOf(s.Inventory(schema.TypeZoneIngress, "")))
	})
	mux.HandleFunc("GET /zone-egresses", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, itemsOf(s.Inventory(schema.TypeZoneEgress, "")))
	})
	mux.HandleFunc("GET /meshes/{mesh}/dataplanes", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, itemsOf(s.Inventory(schema.TypeDataplane, r.PathValue("mesh"))))
	})
	mux.HandleFunc("GET /meshes/{mesh}/dataplanes/{name}", func(w http.ResponseWriter, r *http.Request) {
		for _, zr := range s.Inventory(schema.TypeDataplane, r.PathValue("mesh")) {
			if zr.Resource.Name == r.PathValue("name") {
				api.WriteJSON(w, http.StatusOK, inventoryItem(zr))
				return
			}
		}
		api.WriteError(w, http.StatusNotFound, "dataplane not found", "no zone reports dataplane "+r.PathValue("name")+" in mesh "+r.PathValue("mesh"))
	})
	RefuseWrites(mux, GlobalReadOnly,
		"/meshes", "/meshes/{mesh}", "/meshes/{mesh}/{kind}/{name}", "/zone-ingresses/{name}", "/zone-egresses/{name}")
	refuse := refusal(GlobalReadOnly + " (Zone resources too; DELETE /zones/{name} forgets a disconnected zone)")
	for _, m := range []string{"PUT", "POST", "PATCH"} {
		mux.HandleFunc(m+" /zones/{name}", refuse)
		mux.HandleFunc(m+" /zones", refuse)
	}
}

func refusal(msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET")
		api.WriteError(w, http.StatusMethodNotAllowed, msg, r.Method+" "+r.URL.Path+" refused")
	}
}

// RefuseWrites answers PUT, POST, PATCH and DELETE on each pattern with 405
// and msg (the global refuses policy writes; a zone refuses them too).
func RefuseWrites(mux *http.ServeMux, msg string, patterns ...string) {
	h := refusal(msg)
	for _, p := range patterns {
		for _, m := range []string{"PUT", "POST", "PATCH", "DELETE"} {
			mux.HandleFunc(m+" "+p, h)
		}
	}
}

// InventoryItem is a resource a zone reported, in universal JSON with its zone.
type InventoryItem struct {
	Zone     string          `json:"zone"`
	Resource json.RawMessage `json:"resource"`
}

// InventoryList is the body of the inventory listings.
type InventoryList struct {
	Total int             `json:"total"`
	Items []InventoryItem `json:"items"`
}

func inventoryItem(zr ZonedResource) InventoryItem {
	b, err := json.Marshal(zr.Resource)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return InventoryItem{Zone: zr.Zone, Resource: b}
}

func itemsOf(rs []ZonedResource) InventoryList {
	out := InventoryList{Total: len(rs), Items: make([]InventoryItem, 0, len(rs))}
	for _, zr := range rs {
		out.Items = append(out.Items, inventoryItem(zr))
	}
	return out
}
