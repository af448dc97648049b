package compiler

import (
	"net/netip"
	"sort"
)

// VIPs is a zone's VIP allocation, per mesh (made by package dns).
type VIPs map[string]MeshVIPs

// MeshVIPs holds one mesh's VIPs: per service name and per VirtualOutbound host.
// V6 holds IPv6 VIPs when the mesh has an IPv6 range too (same keys).
type MeshVIPs struct {
	Services   map[string]netip.Addr
	Hosts      map[string]netip.Addr
	ServicesV6 map[string]netip.Addr
	HostsV6    map[string]netip.Addr
}

// DefaultVIPPort is the port every service VIP listens on, whatever port the
// service itself uses, so `curl http://backend.mesh` works.
const DefaultVIPPort = 80

// VIPOutbound is one outbound listener a proxy gets from port mapping: it
// accepts on Address:Port and forwards to Service (the instances carrying Tags
// when Tags is set, i.e. a VirtualOutbound subset).
type VIPOutbound struct {
	Address netip.Addr
	Port    int
	Service string
	Tags    map[string]string
	// Host is the DNS name the address answers for: the service's first name
	// form ("backend.mesh", empty when the service name is not a DNS name) or
	// the VirtualOutbound host.
	Host string
}

// VIPOutbounds returns the VIP listeners of every proxy of a mesh: for every
// service with a VIP, VIP:80 and VIP:<each port its instances listen on>; for
// every VirtualOutbound host with a VIP, VIP:<its rendered port>. Services or
// hosts without a VIP (e.g. the range was exhausted) get none. Sorted by
// address then port; no address:port appears twice.
func VIPOutbounds(ms MeshServices, vips MeshVIPs) []VIPOutbound {
	var out []VIPOutbound
	seen := map[netip.AddrPort]bool{}
	emit := func(o VIPOutbound) {
		k := netip.AddrPortFrom(o.Address, uint16(o.Port))
		if !o.Address.IsValid() || seen[k] {
			return
		}
		seen[k] = true
		out = append(out, o)
	}
	for _, s := range ms.Services {
		host := ""
		if names := ServiceDNSNames(s.Name); len(names) > 0 {
			host = names[0]
		}
		for _, addr := range []netip.Addr{vips.Services[s.Name], vips.ServicesV6[s.Name]} {
			if !addr.IsValid() {
				continue
			}
			emit(VIPOutbound{Address: addr, Port: DefaultVIPPort, Service: s.Name, Host: host})
			for _, p := range s.Ports {
				emit(VIPOutbound{Address: addr, Port: p, Service: s.Name, Host: host})
			}
		}
	}
	for _, h := range ms.VirtualHosts {
		for _, addr := range []netip.Addr{vips.Hosts[h.Host], vips.HostsV6[h.Host]} {
			emit(VIPOutbound{Address: addr, Port: h.Port, Service: h.Service, Tags: h.Tags, Host: h.Host})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Address.Compare(out[j].Address); c != 0 {
			return c < 0
		}
		return out[i].Port < out[j].Port
	})
	return out
}
