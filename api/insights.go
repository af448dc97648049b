package api

import (
	"net/http"
	"sort"
)

// ServiceInsight summarises one service of a mesh: how many dataplane
// inbounds serve it, how many of those are online, and in which zones.
type ServiceInsight struct {
	Service    string         `json:"service"`
	Dataplanes int            `json:"dataplanes"`
	Online     int            `json:"online"`
	Zones      map[string]int `json:"zones"`
	Status     string         `json:"status"` // online | partially_degraded | offline
}

// dataplaneList is the shape of GET /meshes/{mesh}/dataplanes at a zone and at the global.
type dataplaneList struct {
	Items []struct {
		Zone     string `json:"zone"`
		Online   bool   `json:"online"`
		Resource struct {
			Networking struct {
				Inbound []struct {
					Tags map[string]string `json:"tags"`
				} `json:"inbound"`
			} `json:"networking"`
		} `json:"resource"`
	} `json:"items"`
}

// RegisterServiceInsights adds GET /meshes/{mesh}/service-insights, computed
// from the same server's GET /meshes/{mesh}/dataplanes (the zone's registry,
// or the global's inventory of every zone).
func (s *Server) RegisterServiceInsights() {
	s.Mux.HandleFunc("GET /meshes/{mesh}/service-insights", func(w http.ResponseWriter, r *http.Request) {
		var dps dataplaneList
		found, err := getJSON(s.Mux, "/meshes/"+r.PathValue("mesh")+"/dataplanes", &dps)
		switch {
		case err != nil:
			WriteError(w, http.StatusInternalServerError, "service insights", err.Error())
			return
		case !found:
			WriteError(w, http.StatusNotFound, "mesh not found", "no dataplanes listing for mesh "+r.PathValue("mesh")+" on this server")
			return
		}
		items := serviceInsights(dps)
		WriteJSON(w, http.StatusOK, map[string]any{"total": len(items), "items": items})
	})
}

func serviceInsights(dps dataplaneList) []ServiceInsight {
	by := map[string]*ServiceInsight{}
	for _, dp := range dps.Items {
		seen := map[string]bool{}
		for _, in := range dp.Resource.Networking.Inbound {
			svc := in.Tags["kuma.io/service"]
			if svc == "" || seen[svc] {
				continue
			}
			seen[svc] = true
			si := by[svc]
			if si == nil {
				si = &ServiceInsight{Service: svc, Zones: map[string]int{}}
				by[svc] = si
			}
			si.Dataplanes++
			if dp.Online {
				si.Online++
			}
			zone := in.Tags["kuma.io/zone"]
			if zone == "" {
				zone = dp.Zone
			}
			si.Zones[zone]++
		}
	}
	out := make([]ServiceInsight, 0, len(by))
	for _, si := range by {
		switch {
		case si.Online == si.Dataplanes:
			si.Status = "online"
		case si.Online == 0:
			si.Status = "offline"
		default:
			si.Status = "partially_degraded"
		}
		out = append(out, *si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}
