package zone

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/xds"
)

// benchAgent is a standalone mTLS zone with n dataplanes (n/10 services, each
// calling the next three) registered and published through the real xDS
// server, certificates included.
func benchAgent(b *testing.B, n int) *Agent {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := xds.NewServer(xds.ServerOptions{Log: log})
	b.Cleanup(srv.Close)
	a, err := New(Options{Zone: "zone-a", Standalone: true, Dev: true, Log: log, Publisher: XDSPublisher{Server: srv, Ctx: context.Background()}})
	if err != nil {
		b.Fatal(err)
	}
	a.SetBundle(mtlsBundle())
	affected := map[compiler.ProxyKey]struct{}{}
	a.applyGlobal(affected)
	services := n / 10
	for i := 0; i < n; i++ {
		svc := i % services
		d := dp(fmt.Sprintf("dp-%d", i), fmt.Sprintf("svc-%d", svc), 8080,
			fmt.Sprintf("svc-%d", (svc+1)%services), fmt.Sprintf("svc-%d", (svc+2)%services), fmt.Sprintf("svc-%d", (svc+3)%services))
		d.DataplaneSpec().Networking.Address = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		if _, err := a.reg.Put(d); err != nil {
			b.Fatal(err)
		}
	}
	keys, _ := a.watch.Next(context.Background())
	a.applyRegistry(keys, affected)
	a.publish(affected)
	return a
}

// BenchmarkAgentFullBuild: 2,000 mTLS dataplanes registered, planned,
// issued certificates, translated and published by the zone agent, from
// nothing. Run: go test -run '^$' -bench Agent -benchtime 3x ./zone
func BenchmarkAgentFullBuild(b *testing.B) {
	for i := 0; i < b.N; i++ {
		benchAgent(b, 2000)
	}
}

// BenchmarkAgentDataplaneJoin: one dataplane joins a 2,000-dataplane zone;
// the agent recomputes and republishes only the proxies it affects.
func BenchmarkAgentDataplaneJoin(b *testing.B) {
	a := benchAgent(b, 2000)
	b.ResetTimer()
	var touched int
	for i := 0; i < b.N; i++ {
		d := dp(fmt.Sprintf("new-%d", i), "svc-7", 8080, "svc-8")
		d.DataplaneSpec().Networking.Address = fmt.Sprintf("10.9.%d.%d", (i/256)%256, i%256)
		if _, err := a.reg.Put(d); err != nil {
			b.Fatal(err)
		}
		keys, _ := a.watch.Next(context.Background())
		affected := map[compiler.ProxyKey]struct{}{}
		a.applyRegistry(keys, affected)
		a.publish(affected)
		touched += len(affected)
	}
	b.ReportMetric(float64(touched)/float64(b.N), "proxies/op")
}
