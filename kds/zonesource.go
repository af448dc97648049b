package kds

import (
	"slices"
	"sort"
	"strings"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
	"github.com/meshc/meshc/store"
)

// RegistrySource is a zone's Source over its dataplane registry. It sends
// the registry's ZoneIngresses, ZoneEgresses and Dataplanes, and fills each
// ZoneIngress's availableServices from the zone's dataplanes: per mesh and
// service an instance count, split only by the tags the bundle's routes use
// (so thousands of services stay small).
type RegistrySource struct {
	reg    *store.Registry
	bundle func() *compiler.Bundle
	w      *store.Watcher
}

// NewRegistrySource watches reg; bundle returns the zone's current bundle
// (nil before the first). Close it when done.
func NewRegistrySource(reg *store.Registry, bundle func() *compiler.Bundle) *RegistrySource {
	return &RegistrySource{reg: reg, bundle: bundle, w: reg.Watch()}
}

// Changed implements Source.
func (s *RegistrySource) Changed() <-chan struct{} { return s.w.C() }

// Close stops watching the registry.
func (s *RegistrySource) Close() { s.w.Close() }

// Local implements Source.
func (s *RegistrySource) Local() []schema.Resource {
	dps := s.reg.Resources(schema.TypeDataplane)
	var b *compiler.Bundle
	if s.bundle != nil {
		b = s.bundle()
	}
	avail := AvailableServices(dps, RouteTagKeys(b))
	out := append([]schema.Resource(nil), dps...)
	for _, r := range s.reg.Resources(schema.TypeZoneIngress) {
		if sp := r.ZoneIngressSpec(); sp != nil {
			c := *sp
			c.AvailableServices = avail
			r.Spec = &c
		}
		out = append(out, r)
	}
	return append(out, s.reg.Resources(schema.TypeZoneEgress)...)
}

// RouteTagKeys lists the tag keys (besides kuma.io/service) that the bundle's
// routes and targetRefs select on: the only tags availableServices carry.
func RouteTagKeys(b *compiler.Bundle) []string {
	keys := map[string]bool{}
	if b != nil {
		for i := range b.Resources {
			ps := b.Resources[i].PolicySpec()
			if ps == nil {
				continue
			}
			add := func(tags map[string]string) {
				for k := range tags {
					if k != schema.TagService {
						keys[k] = true
					}
				}
			}
			for _, items := range [][]schema.PolicyItem{ps.To, ps.From} {
				for _, it := range items {
					add(it.TargetRef.Tags)
					for _, rule := range it.Rules {
						for _, br := range rule.Default.BackendRefs {
							add(br.Tags)
						}
					}
				}
			}
		}
	}
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// AvailableServices counts the inbounds of dps per mesh, service and values
// of tagKeys, sorted. kuma.io/protocol is always carried: other zones need it
// to speak HTTP (routes, retries) rather than TCP to the service.
func AvailableServices(dps []schema.Resource, tagKeys []string) []schema.AvailableService {
	if !slices.Contains(tagKeys, schema.TagProtocol) {
		tagKeys = append([]string{schema.TagProtocol}, tagKeys...)
	}
	type group struct {
		as  schema.AvailableService
		key string
	}
	groups := map[string]*group{}
	for _, dp := range dps {
		sp := dp.DataplaneSpec()
		if sp == nil {
			continue
		}
		for _, in := range sp.Networking.Inbound {
			svc := in.Tags[schema.TagService]
			if svc == "" {
				continue
			}
			tags := map[string]string{schema.TagService: svc}
			parts := []string{dp.Mesh, svc}
			for _, k := range tagKeys {
				if v, ok := in.Tags[k]; ok {
					tags[k] = v
					parts = append(parts, k+"="+v)
				}
			}
			key := strings.Join(parts, "\x00")
			g := groups[key]
			if g == nil {
				g = &group{as: schema.AvailableService{Mesh: dp.Mesh, Tags: tags}, key: key}
				groups[key] = g
			}
			g.as.Instances++
		}
	}
	out := make([]*group, 0, len(groups))
	for _, g := range groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	res := make([]schema.AvailableService, len(out))
	for i, g := range out {
		res[i] = g.as
	}
	return res
}
