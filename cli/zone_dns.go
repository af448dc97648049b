package cli

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/meshc/meshc/dns"
	"github.com/meshc/meshc/zone"
)

// zoneDNSFlags are the zone's `.mesh` DNS and VIP flags (issue 7).
func zoneDNSFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "dns-addr", Value: ":5653", Usage: "`host:port` of the .mesh DNS server (UDP and TCP); clients get the names of the mesh of the dataplane at their address; empty: no DNS"},
		&cli.StringSliceFlag{Name: "dns-mesh-addr", Usage: "`MESH=host:port`: a DNS address answering only MESH's names (repeatable), for clients that share an address across meshes"},
		&cli.StringSliceFlag{Name: "dns-upstream", Usage: "resolver `host[:port]` for names outside the mesh (repeatable; default: /etc/resolv.conf's; \"none\": answer REFUSED)"},
		&cli.DurationFlag{Name: "dns-ttl", Value: dns.DefaultTTL, Usage: "TTL of .mesh answers"},
		&cli.StringFlag{Name: "dns-vip-cidr", Value: dns.DefaultVIPCIDR, Usage: "VIP `RANGE` of meshes that set no networking.vipCIDR; add an IPv6 range after a comma for AAAA answers"},
		&cli.DurationFlag{Name: "dns-vip-grace", Value: dns.DefaultVIPGrace, Usage: "how long a freed VIP is kept from other services"},
	}
}

// zoneDNS is the parsed DNS/VIP configuration of a zone.
type zoneDNS struct {
	addr      string
	meshAddrs map[string]string
	upstreams []string
	ttl       time.Duration
	cidrs     []netip.Prefix
	grace     time.Duration
}

func parseZoneDNS(c *cli.Context) (zoneDNS, error) {
	d := zoneDNS{addr: c.String("dns-addr"), ttl: c.Duration("dns-ttl"), grace: c.Duration("dns-vip-grace"), meshAddrs: map[string]string{}}
	for _, kv := range c.StringSlice("dns-mesh-addr") {
		mesh, addr, ok := strings.Cut(kv, "=")
		if !ok || mesh == "" || addr == "" {
			return d, fmt.Errorf("--dns-mesh-addr %q: want MESH=host:port", kv)
		}
		d.meshAddrs[mesh] = addr
	}
	ups := c.StringSlice("dns-upstream")
	switch {
	case len(ups) == 1 && ups[0] == "none":
	case len(ups) == 0:
		d.upstreams = dns.SystemUpstreams("")
	default:
		for _, u := range ups {
			n, err := dns.NormalizeUpstream(u)
			if err != nil {
				return d, fmt.Errorf("--dns-upstream: %w", err)
			}
			d.upstreams = append(d.upstreams, n)
		}
	}
	cidrs, err := dns.ParseCIDRs(c.String("dns-vip-cidr"))
	if err != nil {
		return d, fmt.Errorf("--dns-vip-cidr: %w", err)
	}
	d.cidrs = cidrs
	if d.ttl < time.Second {
		return d, fmt.Errorf("--dns-ttl %s: want at least 1s", d.ttl)
	}
	return d, nil
}

// start makes the zone's VIP allocator (persisted in stateDir/vips.json) and,
// unless no DNS address is set, its DNS server (bound now, served by Serve).
func (d zoneDNS) start(stateDir string, reg prometheus.Registerer, log *slog.Logger) (*dns.Discovery, *dns.Server, error) {
	alloc, err := dns.NewAllocator(dns.AllocatorConfig{StatePath: filepath.Join(stateDir, "vips.json"), DefaultCIDRs: d.cidrs, Grace: d.grace})
	if err != nil {
		return nil, nil, err
	}
	disc := &dns.Discovery{Alloc: alloc, Log: log, Registry: reg}
	if d.addr == "" && len(d.meshAddrs) == 0 {
		return disc, nil, nil
	}
	srv, err := dns.NewServer(dns.Config{Addr: d.addr, MeshAddrs: d.meshAddrs, Upstreams: d.upstreams, TTL: d.ttl, Log: log, Registry: reg})
	if err != nil {
		return nil, nil, err
	}
	if len(d.upstreams) == 0 {
		log.Info("dns: no upstream resolver; names outside the mesh are REFUSED")
	}
	disc.Server = srv
	return disc, srv, nil
}

// startDNS builds the zone's VIP allocation and DNS server from f.dns, and
// serves GET /meshes/{mesh}/vips. It returns nil (no Discovery) when f.dns is nil.
func (z *zoneRuntime) startDNS(f zoneFlags) (zone.Discovery, error) {
	if f.dns == nil {
		return nil, nil
	}
	disc, srv, err := f.dns.start(f.stateDir, z.api.Registry, z.log)
	if err != nil {
		return nil, err
	}
	z.dns = srv
	disc.RegisterAPI(z.api.Mux)
	return disc, nil
}
