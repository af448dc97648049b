package compiler

import (
	"fmt"

	"github.com/meshc/meshc/schema"
)

// checkCrossZoneMTLS warns about policies that address a zone
// (`kuma.io/zone` in a targetRef or backendRef) in a mesh without mTLS:
// cross-zone traffic requires mTLS (the zone ingress routes by the SNI of
// the mTLS connection), so zones do not route it and such a split sends
// nothing to other zones. Validation cannot see which zones run which
// services (that is the zones' inventory); zones log, and the global
// reports, meshes without mTLS whose services run in several zones.
func (c *checker) checkCrossZoneMTLS(rs []*schema.Resource, meshes map[string]*schema.Resource) {
	for _, r := range rs {
		ps := r.PolicySpec()
		if ps == nil {
			continue
		}
		m := meshes[r.Mesh]
		if m == nil || m.MeshSpec() == nil || m.MeshSpec().MTLS.Enabled() {
			continue
		}
		if _, ok := ps.TargetRef.Tags[schema.TagZone]; ok {
			c.warnf(r, "spec.targetRef.tags", zoneWithoutMTLS, r.Mesh)
		}
		for _, sec := range []struct {
			name  string
			items []schema.PolicyItem
		}{{"to", ps.To}, {"from", ps.From}} {
			for i, it := range sec.items {
				if _, ok := it.TargetRef.Tags[schema.TagZone]; ok {
					c.warnf(r, fmt.Sprintf("spec.%s[%d].targetRef.tags", sec.name, i), zoneWithoutMTLS, r.Mesh)
				}
				for j, rule := range it.Rules {
					for k, br := range rule.Default.BackendRefs {
						if _, ok := br.Tags[schema.TagZone]; ok {
							c.warnf(r, fmt.Sprintf("spec.%s[%d].rules[%d].default.backendRefs[%d].tags", sec.name, i, j, k), zoneWithoutMTLS, r.Mesh)
						}
					}
				}
			}
		}
	}
}

const zoneWithoutMTLS = "selects kuma.io/zone in mesh %q, which has no mTLS: cross-zone traffic requires mTLS, so zones will not route it to other zones; enable mtls on the Mesh"
