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

// VIPOutbounds returns the VIP listeners of every proxy of a mesh: for every
// service with a VIP, VIP:80 and VIP:<each port its instances listen on>; for
// every VirtualOutbound host with a VIP, VIP:<its rendered port>. Services or
// hosts without a VIP (e.g. the range was exhausted) get none. Sorted by
// address then port; no address:port appears twice.
// The result is PlanInput.VIPs[mesh].
func VIPOutbounds(ms MeshServices, vips MeshVIPs) []VIPListener {
	type entry struct {
		ap netip.AddrPort
		l  VIPListener
	}
	var out []entry
	seen := map[netip.AddrPort]bool{}
	emit := func(addr netip.Addr, l VIPListener) {
		k := netip.AddrPortFrom(addr, uint16(l.Port))
		if !addr.IsValid() || seen[k] {
			return
		}
		seen[k] = true
		l.Address = addr.String()
		out = append(out, entry{k, l})
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
			emit(addr, VIPListener{Port: DefaultVIPPort, Service: s.Name, Host: host})
			for _, p := range s.Ports {
				emit(addr, VIPListener{Port: p, Service: s.Name, Host: host})
			}
		}
	}
	for _, h := range ms.VirtualHosts {
		for _, addr := range []netip.Addr{vips.Hosts[h.Host], vips.HostsV6[h.Host]} {
			emit(addr, VIPListener{Port: h.Port, Service: h.Service, Tags: h.Tags, Host: h.Host})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ap.Compare(out[j].ap) < 0 })
	ls := make([]VIPListener, len(out))
	for i, e := range out {
		ls[i] = e.l
	}
	return ls
}
