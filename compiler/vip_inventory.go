package compiler

import (
	"net"
	"sort"
	"strconv"

	"github.com/meshc/meshc/schema"
)

// MeshServices is what a zone knows about one mesh's services: every service
// reachable from it (local inbounds, other zones' ingresses, ExternalServices)
// and every VirtualOutbound host rendered from those services' tags. It is the
// input of VIP allocation (package dns) and of VIP port mapping (VIPOutbounds).
type MeshServices struct {
	Mesh         string
	Services     []ServiceEntry // sorted by Name
	VirtualHosts []VirtualHost  // sorted by Host, Port
}

// ServiceEntry is one service of a mesh as the zone sees it.
type ServiceEntry struct {
	Name string
	// Ports are the ports the service's local instances (inbound `port`) or the
	// ExternalService address listen on, sorted; empty for a service known only
	// from another zone's ingress.
	Ports    []int
	External bool
}

// ZoneServices lists, per mesh of the bundle (sorted by mesh name), the services
// the zone knows: the kuma.io/service of every local dataplane inbound, of every
// ZoneIngress availableService, and of every ExternalService; plus the
// VirtualOutbound hosts those services' tags render to. Dataplanes and ingress
// entries of a mesh the bundle does not define are ignored. Problems with a
// VirtualOutbound (bad template, bad port) come back as warnings: the host is
// left out and everything else stands.
func ZoneServices(b *Bundle, dataplanes, ingresses []schema.Resource) ([]MeshServices, schema.Errors) {
	type meshAcc struct {
		services  map[string]*ServiceEntry
		instances []map[string]string
	}
	acc := map[string]*meshAcc{}
	var meshes []string
	if b != nil {
		for _, m := range b.OfType(schema.TypeMesh) {
			acc[m.Name] = &meshAcc{services: map[string]*ServiceEntry{}}
			meshes = append(meshes, m.Name)
		}
	}
	sort.Strings(meshes)
	add := func(mesh, svc string, port int, external bool, tags map[string]string) {
		a := acc[mesh]
		if a == nil || svc == "" {
			return
		}
		e := a.services[svc]
		if e == nil {
			e = &ServiceEntry{Name: svc, External: external}
			a.services[svc] = e
		}
		if port > 0 && !containsInt(e.Ports, port) {
			e.Ports = append(e.Ports, port)
		}
		if tags != nil {
			a.instances = append(a.instances, tags)
		}
	}
	for i := range dataplanes {
		dp := &dataplanes[i]
		spec := dp.DataplaneSpec()
		if spec == nil {
			continue
		}
		for _, in := range spec.Networking.Inbound {
			add(dp.Mesh, in.Tags[schema.TagService], in.Port, false, in.Tags)
		}
	}
	for i := range ingresses {
		spec := ingresses[i].ZoneIngressSpec()
		if spec == nil {
			continue
		}
		for _, as := range spec.AvailableServices {
			add(as.Mesh, as.Tags[schema.TagService], 0, false, as.Tags)
		}
	}
	if b != nil {
		for _, es := range b.OfType(schema.TypeExternalService) {
			spec := es.ExternalServiceSpec()
			if spec == nil {
				continue
			}
			port := 0
			if _, p, err := net.SplitHostPort(spec.Networking.Address); err == nil {
				port, _ = strconv.Atoi(p)
			}
			add(es.Mesh, spec.Tags[schema.TagService], port, true, nil)
		}
	}
	var out []MeshServices
	var warns schema.Errors
	for _, mesh := range meshes {
		a := acc[mesh]
		ms := MeshServices{Mesh: mesh}
		for _, e := range a.services {
			sort.Ints(e.Ports)
			ms.Services = append(ms.Services, *e)
		}
		sort.Slice(ms.Services, func(i, j int) bool { return ms.Services[i].Name < ms.Services[j].Name })
		var vos []*schema.Resource
		if b != nil {
			for _, vo := range b.OfType(schema.TypeVirtualOutbound) {
				if vo.Mesh == mesh {
					vos = append(vos, vo)
				}
			}
		}
		hosts, ws := RenderVirtualOutbounds(vos, a.instances)
		ms.VirtualHosts = hosts
		warns = append(warns, ws...)
		out = append(out, ms)
	}
	return out, warns
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
