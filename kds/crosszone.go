package kds

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshc/meshc/schema"
)

// crossZoneWarningsLocked lists, for zone name, the services of meshes
// without mTLS that also run in other zones: cross-zone traffic requires
// mTLS (the zone ingress routes by the SNI of the mTLS connection), so the
// zones do not route it. Validation cannot see this (it needs the zones'
// inventory); the global can, and GET /zones shows it on each zone.
func (s *Server) crossZoneWarningsLocked(name string) []string {
	if s.bundle == nil || s.zones[name] == nil {
		return nil
	}
	plain := map[string]bool{}
	for _, m := range s.bundle.OfType(schema.TypeMesh) {
		if ms := m.MeshSpec(); ms != nil && !ms.MTLS.Enabled() {
			plain[m.Name] = true
		}
	}
	if len(plain) == 0 {
		return nil
	}
	// mesh/service → zones running it
	where := map[string]map[string]bool{}
	for zone, z := range s.zones {
		for i := range z.inventory {
			r := &z.inventory[i]
			dp := r.DataplaneSpec()
			if dp == nil || !plain[r.Mesh] {
				continue
			}
			for _, in := range dp.Networking.Inbound {
				if svc := in.Tags[schema.TagService]; svc != "" {
					k := r.Mesh + "/" + svc
					if where[k] == nil {
						where[k] = map[string]bool{}
					}
					where[k][zone] = true
				}
			}
		}
	}
	var out []string
	for k, zones := range where {
		if len(zones) < 2 || !zones[name] {
			continue
		}
		names := make([]string, 0, len(zones))
		for z := range zones {
			names = append(names, z)
		}
		sort.Strings(names)
		mesh, svc, _ := strings.Cut(k, "/")
		out = append(out, fmt.Sprintf("mesh %q has no mTLS but service %q runs in zones %s: cross-zone traffic requires mTLS and is not routed; enable mtls on the Mesh", mesh, svc, strings.Join(names, ", ")))
	}
	sort.Strings(out)
	return out
}
