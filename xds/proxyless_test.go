package xds

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	grpcxds "google.golang.org/grpc/xds"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/internal/testenv"
	"github.com/meshc/meshc/schema"
)

// startBackend serves a real gRPC greeter answering with name.
func startBackend(t *testing.T, name string) int { return testenv.StartGreeter(t, name) }

// startADS serves s on a loopback port and returns its address.
func startADS(t *testing.T, s *Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	s.Register(g)
	go g.Serve(lis)
	t.Cleanup(func() { s.Close(); g.Stop() })
	return lis.Addr().String()
}

func grpcDataplane(name string, port int, inbound bool, outbound string) schema.Resource {
	dp := &schema.DataplaneSpec{}
	dp.Networking.Address = "127.0.0.1"
	if inbound {
		dp.Networking.Inbound = []schema.Inbound{{Port: port, Tags: map[string]string{
			schema.TagService: "greeter", schema.TagProtocol: "grpc", schema.TagZone: "zone-a"}}}
	}
	if outbound != "" {
		dp.Networking.Outbound = []schema.Outbound{{Port: 10010, Tags: map[string]string{schema.TagService: outbound}}}
	}
	return schema.Resource{Type: schema.TypeDataplane, Mesh: "plain", Name: name, Spec: dp}
}

// TestProxylessGRPCBalancesAcrossBackends: grpc-go's own xDS client resolves
// xds:///greeter.mesh from our ADS server and spreads calls over two real
// backends; when one backend's dataplane leaves, calls go to the other.
func TestProxylessGRPCBalancesAcrossBackends(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	reg := prometheus.NewRegistry()
	srv := NewServer(ServerOptions{Registry: reg})
	addr := startADS(t, srv)
	p1, p2 := startBackend(t, "greeter-1"), startBackend(t, "greeter-2")

	pl := compiler.NewPlanner("zone-a")
	pl.SetBundle(&compiler.Bundle{Version: "v1", Resources: []schema.Resource{
		{Type: schema.TypeMesh, Name: "plain", Spec: &schema.MeshSpec{}},
	}})
	for _, dp := range []schema.Resource{
		grpcDataplane("greeter-1", p1, true, ""),
		grpcDataplane("greeter-2", p2, true, ""),
		grpcDataplane("client", 0, false, "greeter"),
	} {
		if _, err := pl.UpsertDataplane(dp); err != nil {
			t.Fatal(err)
		}
	}
	publish := func(keys []compiler.ProxyKey) {
		t.Helper()
		for _, k := range keys {
			plan, err := pl.Plan(k)
			if err != nil {
				continue // deleted
			}
			if err := srv.Update(ctx, plan, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(pl.Proxies())

	bootstrap := fmt.Sprintf(`{
		"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
		"node": {"id": "plain.client", "metadata": {"proxyless": true}}
	}`, addr)
	res, err := grpcxds.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///greeter.mesh", grpc.WithResolvers(res), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := testgrpc.NewTestServiceClient(cc)

	count := func(n int) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for i := 0; i < n; i++ {
			r, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
			if err != nil {
				t.Fatalf("call %d through xds:///greeter.mesh: %v", i, err)
			}
			seen[r.ServerId]++
		}
		return seen
	}
	// Round robin picks among READY backends: wait until both answered once.
	for warm := map[string]int{}; warm["greeter-1"] == 0 || warm["greeter-2"] == 0; {
		if ctx.Err() != nil {
			t.Fatalf("both backends never answered: %v", warm)
		}
		for k, v := range count(10) {
			warm[k] += v
		}
	}
	seen := count(200)
	if seen["greeter-1"] < 80 || seen["greeter-2"] < 80 {
		t.Fatalf("round robin over two backends: got %v, want both near 100", seen)
	}

	// greeter-2 leaves: only the affected proxies are recomputed and republished.
	publish(pl.DeleteDataplane(compiler.ProxyKey{Mesh: "plain", Name: "greeter-2"}))
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen := count(50)
		if seen["greeter-2"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("greeter-2 still receives calls after its dataplane left: %v", seen)
		}
	}
	waitAllAcked(t, ctx, srv, "plain.client", 4) // listeners, routes, clusters, endpoints
	st, ok := srv.Status("plain.client")
	if !ok || !st.Connected || !st.Proxyless || st.LastNACK != nil {
		t.Fatalf("status of plain.client: %+v", st)
	}
	// The server's metrics say the same.
	if got := testutil.ToFloat64(srv.metrics.connected); got != 1 {
		t.Errorf("meshc_xds_connected_proxies = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "meshc_xds_acks_total"); err != nil || n < 4 {
		t.Errorf("meshc_xds_acks_total has %d series (%v), want one per resource type", n, err)
	}
}
