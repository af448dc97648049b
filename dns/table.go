package dns

import (
	"net/netip"
	"strings"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// Record is what a name resolves to: an IPv4 and/or an IPv6 VIP.
type Record struct {
	V4, V6 netip.Addr
}

// Source is where the server's answers come from; swap it with Server.SetSource.
// Names are lowercase and fully qualified ("backend.mesh.").
type Source interface {
	// Resolve returns the record of name in mesh.
	Resolve(mesh, name string) (Record, bool)
	// MeshOf returns the mesh a client at addr resolves names for; ok is false
	// when the zone cannot tell (no dataplane there, or dataplanes of several meshes).
	MeshOf(addr netip.Addr) (mesh string, ok bool)
}

// Table is the Source the zone builds from its VIP allocation. Immutable.
type Table struct {
	names    map[string]map[string]Record // mesh → fqdn → record
	addrMesh map[netip.Addr]string        // dataplane address → mesh; "" when several meshes share it
	only     string                       // the zone's only mesh, when it has exactly one
}

// NewTable builds the names of every mesh: for each service with a VIP
// "<service>.mesh." and its '_'→'.' form, and every VirtualOutbound host. When
// two names collide, a service's own name beats another's '_'→'.' form, which
// beats a VirtualOutbound host; among equals the first service by name wins.
// dataplanes give the source addresses of each mesh's clients.
func NewTable(vips compiler.VIPs, meshes []compiler.MeshServices, dataplanes []schema.Resource) *Table {
	t := &Table{names: map[string]map[string]Record{}, addrMesh: map[netip.Addr]string{}}
	for _, ms := range meshes {
		mv := vips[ms.Mesh]
		names := map[string]Record{}
		put := func(name string, rec Record) {
			if _, taken := names[name+"."]; !taken && (rec.V4.IsValid() || rec.V6.IsValid()) {
				names[name+"."] = rec
			}
		}
		// pass 0: exact names; pass 1: '_'→'.' forms
		for pass := 0; pass < 2; pass++ {
			for _, s := range ms.Services {
				forms := compiler.ServiceDNSNames(s.Name)
				rec := Record{V4: mv.Services[s.Name], V6: mv.ServicesV6[s.Name]}
				for i, n := range forms {
					exact := i == 0 && n == strings.ToLower(s.Name)+"."+compiler.MeshDomain
					if exact == (pass == 0) {
						put(n, rec)
					}
				}
			}
		}
		for _, h := range ms.VirtualHosts {
			put(h.Host, Record{V4: mv.Hosts[h.Host], V6: mv.HostsV6[h.Host]})
		}
		t.names[ms.Mesh] = names
	}
	if len(meshes) == 1 {
		t.only = meshes[0].Mesh
	}
	for i := range dataplanes {
		spec := dataplanes[i].DataplaneSpec()
		if spec == nil {
			continue
		}
		for _, s := range []string{spec.Networking.Address, spec.Networking.AdvertisedAddress} {
			a, err := netip.ParseAddr(s)
			if err != nil {
				continue
			}
			a = a.Unmap()
			if m, seen := t.addrMesh[a]; seen && m != dataplanes[i].Mesh {
				t.addrMesh[a] = ""
			} else if !seen {
				t.addrMesh[a] = dataplanes[i].Mesh
			}
		}
	}
	return t
}

// Resolve implements Source.
func (t *Table) Resolve(mesh, name string) (Record, bool) {
	r, ok := t.names[mesh][name]
	return r, ok
}

// MeshOf implements Source.
func (t *Table) MeshOf(addr netip.Addr) (string, bool) {
	if m, ok := t.addrMesh[addr.Unmap()]; ok {
		return m, m != ""
	}
	if t.only != "" {
		return t.only, true
	}
	return "", false
}

// Len is the number of names of mesh.
func (t *Table) Len(mesh string) int { return len(t.names[mesh]) }
