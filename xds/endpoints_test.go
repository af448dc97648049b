package xds

import (
	"testing"

	"github.com/meshc/meshc/compiler"
)

// TestLoadAssignment: localities carry the sum of their endpoints' weights
// (grpc-go drops a locality without one) and priorities stay gapless when
// proxyless clients lose the endpoints given by hostname.
func TestLoadAssignment(t *testing.T) {
	es := &compiler.EndpointSet{Hostnames: true, Hash: "h", Endpoints: []compiler.Endpoint{
		{Address: "ingress.zone-b.example", Port: 10001, Weight: 3, Locality: "zone-b", Priority: 0},
		{Address: "10.0.0.9", Port: 10001, Weight: 2, Locality: "zone-c", Priority: 1},
		{Address: "10.0.0.8", Port: 10001, Weight: 4, Locality: "zone-c", Priority: 1},
	}}
	cla := loadAssignment("backend", es)
	if len(cla.Endpoints) != 2 || cla.Endpoints[0].LoadBalancingWeight.GetValue() != 3 || cla.Endpoints[1].LoadBalancingWeight.GetValue() != 6 {
		t.Fatalf("sidecar assignment: %v", cla)
	}
	pl := loadAssignment("backend", ipOnly(es))
	if len(pl.Endpoints) != 1 || pl.Endpoints[0].Priority != 0 || pl.Endpoints[0].Locality.Zone != "zone-c" || len(pl.Endpoints[0].LbEndpoints) != 2 {
		t.Fatalf("proxyless assignment: %v", pl)
	}
	if err := pl.Validate(); err != nil {
		t.Fatal(err)
	}
}
