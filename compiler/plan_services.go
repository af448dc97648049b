package compiler

import (
	"net/netip"
	"sort"
	"strconv"

	"github.com/meshc/meshc/schema"
)

// svcInfo is what the zone knows about one service of one mesh: its local
// instances (inbounds of registered dataplanes) and its remote zones (other
// zones' ingresses that advertise it).
type svcInfo struct {
	local  []instance
	remote []remoteEntry
	// external is set when the service is an ExternalService (external.go).
	external *externalInfo
	gen      uint64 // bumped whenever local or remote changes
}

// instance is one local inbound of a service.
type instance struct {
	proxy   ProxyKey
	address string
	port    int
	tags    map[string]string
}

// remoteEntry is one availableService of one other zone's ingress.
type remoteEntry struct {
	ingress   string
	zone      string
	address   string
	port      int
	tags      map[string]string
	instances int
}

// protocol is the service's kuma.io/protocol: the one its instances agree on,
// tcp when they disagree or say nothing.
func (s *svcInfo) protocol() string {
	if s.external != nil {
		return s.external.protocol
	}
	p := ""
	seen := func(v string) bool {
		if v == "" {
			v = ProtocolTCP
		}
		if p == "" {
			p = v
			return true
		}
		return p == v
	}
	for _, in := range s.local {
		if !seen(in.tags[schema.TagProtocol]) {
			return ProtocolTCP
		}
	}
	for _, r := range s.remote {
		if !seen(r.tags[schema.TagProtocol]) {
			return ProtocolTCP
		}
	}
	if p == "" {
		return ProtocolTCP
	}
	return p
}

// port is the service's most common inbound port among local instances (the
// port a VIP outbound also listens on), 0 when there is none.
func (s *svcInfo) port() int {
	count := map[int]int{}
	best := 0
	for _, in := range s.local {
		count[in.port]++
		if c := count[in.port]; c > count[best] || (c == count[best] && in.port < best) {
			best = in.port
		}
	}
	return best
}

// endpoints computes the endpoint set of (service, subset): each local instance
// with weight 1 in this zone's locality; one endpoint per other zone's ingress
// with weight = its matching instance count (only with mTLS, which cross-zone
// traffic requires). With locality awareness, remote endpoints get priority 1
// when there are local ones (priorities never skip a level).
//
// With eg (a mesh with routing.zoneEgress), remote zones are reached through
// this zone's egress: each remote endpoint's address is the egress's (the
// egress forwards by SNI to the zones' ingresses); when the mesh routes
// through an egress and the zone has none, remote zones are not reachable.
func (s *svcInfo) endpoints(zone string, subset map[string]string, mtls, localityAware bool, eg *egressAddr) *EndpointSet {
	set := &EndpointSet{}
	idx := map[string]int{}
	add := func(e Endpoint) {
		k := e.Address + ":" + strconv.Itoa(e.Port)
		if i, ok := idx[k]; ok {
			set.Endpoints[i].Weight += e.Weight
			return
		}
		idx[k] = len(set.Endpoints)
		set.Endpoints = append(set.Endpoints, e)
	}
	if s != nil && s.external != nil {
		set.Endpoints = s.externalEndpoints(zone, mtls, eg)
	} else if s != nil {
		for _, in := range s.local {
			if tagsContain(withZone(in.tags, zone), subset) {
				add(Endpoint{Address: in.address, Port: in.port, Weight: 1, Locality: zone})
			}
		}
		nLocal := len(set.Endpoints)
		if mtls {
			prio := 0
			if localityAware && nLocal > 0 {
				prio = 1
			}
			for _, r := range s.remote {
				if r.instances <= 0 || !tagsContain(withZone(r.tags, r.zone), subset) {
					continue
				}
				addr, port := r.address, r.port
				if eg != nil {
					if eg.none {
						continue
					}
					addr, port = eg.address, eg.port
				}
				add(Endpoint{Address: addr, Port: port, Weight: r.instances, Locality: r.zone, Priority: prio, Ingress: true})
			}
		}
	}
	sort.Slice(set.Endpoints, func(i, j int) bool {
		a, b := set.Endpoints[i], set.Endpoints[j]
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		if a.Locality != b.Locality {
			return a.Locality < b.Locality
		}
		if a.Address != b.Address {
			return a.Address < b.Address
		}
		return a.Port < b.Port
	})
	set.Hostnames = hostnames(set.Endpoints)
	set.Hash = hashJSON(set.Endpoints)
	return set
}

// hostnames reports whether some endpoint address is a DNS name, not an IP.
func hostnames(es []Endpoint) bool {
	for _, e := range es {
		if _, err := netip.ParseAddr(e.Address); err != nil {
			return true
		}
	}
	return false
}

func withZone(tags map[string]string, zone string) map[string]string {
	if _, ok := tags[schema.TagZone]; ok || zone == "" {
		return tags
	}
	out := make(map[string]string, len(tags)+1)
	for k, v := range tags {
		out[k] = v
	}
	out[schema.TagZone] = zone
	return out
}

// dpAddress is where other proxies reach a dataplane.
func dpAddress(dp *schema.DataplaneSpec) string {
	if dp.Networking.AdvertisedAddress != "" {
		return dp.Networking.AdvertisedAddress
	}
	return dp.Networking.Address
}

// instancesOf lists the local instances a dataplane provides, by service.
func instancesOf(k ProxyKey, dp *schema.DataplaneSpec) map[string][]instance {
	out := map[string][]instance{}
	for _, in := range dp.Networking.Inbound {
		svc := in.Tags[schema.TagService]
		if svc == "" {
			continue
		}
		addr := in.Address
		if addr == "" {
			addr = dpAddress(dp)
		}
		out[svc] = append(out[svc], instance{proxy: k, address: addr, port: in.Port, tags: in.Tags})
	}
	return out
}

// remoteEntriesOf lists what one other zone's ingress advertises, by mesh and service.
func remoteEntriesOf(r *schema.Resource, localZone string) map[string]map[string][]remoteEntry {
	zi := r.ZoneIngressSpec()
	if zi == nil || zi.Zone == "" || zi.Zone == localZone {
		return nil // an ingress of this zone, or of no known zone
	}
	addr, port := zi.Networking.AdvertisedAddress, zi.Networking.AdvertisedPort
	if addr == "" {
		addr = zi.Networking.Address
	}
	if port == 0 {
		port = zi.Networking.Port
	}
	out := map[string]map[string][]remoteEntry{}
	for _, as := range zi.AvailableServices {
		svc := as.Tags[schema.TagService]
		if svc == "" || as.Mesh == "" {
			continue
		}
		if out[as.Mesh] == nil {
			out[as.Mesh] = map[string][]remoteEntry{}
		}
		out[as.Mesh][svc] = append(out[as.Mesh][svc], remoteEntry{
			ingress: r.Name, zone: zi.Zone, address: addr, port: port, tags: as.Tags, instances: as.Instances,
		})
	}
	return out
}
