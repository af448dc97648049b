package zone_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	grpcxds "google.golang.org/grpc/xds"

	"github.com/meshc/meshc/internal/testenv"
)

func putDataplane(t *testing.T, cp, mesh, name, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/meshes/%s/dataplanes/%s", cp, mesh, name), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT dataplane %s: HTTP %d", name, resp.StatusCode)
	}
}

// A proxyless gRPC client (grpc-go's own xDS resolver, xds:///greeter.mesh)
// gets its configuration from a real `meshc zone` process and balances over
// the greeters registered there; a greeter deregistered through the zone's
// API stops receiving calls.
func TestE2EProxylessGRPCFromZone(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	meshDir := filepath.Join(root, "mesh")
	if err := os.MkdirAll(meshDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(meshDir, "mesh.yaml"), "type: Mesh\nname: plain\n")
	apiAddr, xdsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	z := start(t, "zone", "zone", "--name", "zone-a", "--standalone", "--dev", "--dir", meshDir,
		"--state-dir", filepath.Join(root, "state"), "--api-addr", apiAddr, "--xds-addr", xdsAddr, "--dns-addr", "127.0.0.1:0")
	z.WaitLog(t, `msg="bundle applied"`, 30*time.Second)
	cp := "http://" + apiAddr

	greeterDP := func(name string, port int) string {
		return fmt.Sprintf("type: Dataplane\nmesh: plain\nname: %s\nnetworking:\n  address: 127.0.0.1\n  inbound:\n  - port: %d\n    tags:\n      kuma.io/service: greeter\n      kuma.io/protocol: grpc\n", name, port)
	}
	putDataplane(t, cp, "plain", "greeter-1", greeterDP("greeter-1", testenv.StartGreeter(t, "greeter-1")))
	putDataplane(t, cp, "plain", "greeter-2", greeterDP("greeter-2", testenv.StartGreeter(t, "greeter-2")))
	putDataplane(t, cp, "plain", "client", "type: Dataplane\nmesh: plain\nname: client\nnetworking:\n  address: 127.0.0.1\n  outbound:\n  - port: 10010\n    tags:\n      kuma.io/service: greeter\n")

	bootstrap := fmt.Sprintf(`{
		"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
		"node": {"id": "plain.client", "metadata": {"proxyless": true}}
	}`, xdsAddr)
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
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
	// Round robin picks among READY backends: wait until both answered.
	for warm := map[string]int{}; warm["greeter-1"] == 0 || warm["greeter-2"] == 0; {
		if ctx.Err() != nil {
			t.Fatalf("both greeters never answered: %v", warm)
		}
		for k, v := range count(10) {
			warm[k] += v
		}
	}
	if seen := count(400); seen["greeter-1"] < 160 || seen["greeter-2"] < 160 {
		t.Fatalf("round robin over two greeters: %v, want both near 200", seen)
	}

	req, _ := http.NewRequest(http.MethodDelete, cp+"/meshes/plain/dataplanes/greeter-2", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	eventually(t, 20*time.Second, "greeter-2 drained after its deregistration", func() error {
		if seen := count(50); seen["greeter-2"] > 0 {
			return fmt.Errorf("greeter-2 still called: %v", seen)
		}
		return nil
	})
}
