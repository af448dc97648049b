package zone

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/dns"
)

// TestAgentServesVIPsAndDNS: with a Discovery, a service registering in the
// zone gets a VIP that the zone's DNS answers and every proxy of the mesh gets
// an outbound on VIP:80 and VIP:<service port>.
func TestAgentServesVIPsAndDNS(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	alloc, err := dns.NewAllocator(dns.AllocatorConfig{StatePath: filepath.Join(t.TempDir(), "vips.json")})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dns.NewServer(dns.Config{Addr: "127.0.0.1:0", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	a, err := New(Options{Zone: "zone-a", Dev: true, Log: log, Publisher: rec, Discovery: &dns.Discovery{Alloc: alloc, Server: srv, Log: log}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- a.Run(ctx) }()
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done; <-done }()

	a.SetBundle(testMesh())
	if _, err := a.Registry().Put(dp("backend-1", "backend", 8080)); err != nil {
		t.Fatal(err)
	}
	var plan *compiler.ProxyPlan
	deadline := time.After(10 * time.Second)
	for plan == nil {
		select {
		case p := <-rec.updates:
			<-rec.ids
			for _, o := range p.Outbounds {
				if o.Kind == compiler.OutboundVIP {
					plan = p
				}
			}
		case <-deadline:
			t.Fatal("no plan with VIP outbounds")
		}
	}
	vip := alloc.VIPs()["default"].Services["backend"]
	var ports []int
	for _, o := range plan.Outbounds {
		if o.Kind == compiler.OutboundVIP {
			if o.Address != vip.String() || o.Service != "backend" || o.Host != "backend.mesh" {
				t.Errorf("VIP outbound %s:%d → %s (%s), want %s → backend", o.Address, o.Port, o.Service, o.Host, vip)
			}
			ports = append(ports, o.Port)
		}
	}
	if len(ports) != 2 || ports[0] != 80 || ports[1] != 8080 {
		t.Errorf("VIP ports %v, want [80 8080]", ports)
	}
	m := new(mdns.Msg)
	m.SetQuestion("backend.mesh.", mdns.TypeA)
	r, err := mdns.Exchange(m, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != vip.String() {
		t.Errorf("backend.mesh → %v, want %s", r.Answer, vip)
	}
}
