package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	grpcxds "google.golang.org/grpc/xds"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/internal/testenv"
	"github.com/meshc/meshc/pki"
	"github.com/meshc/meshc/schema"
)

// TestProxylessGRPCMutualTLS: in a mesh with mTLS, the proxyless client gets
// clusters whose TLS comes from its bootstrap's certificate provider; it
// presents its workload certificate to backends that require one from the
// mesh CA, and accepts only their SPIFFE id.
func TestProxylessGRPCMutualTLS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	now := time.Now()
	ca, err := pki.NewCA("secure", pki.CAOptions{ECDSA: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)

	startTLSBackend := func(name string, identity ...string) int {
		if identity == nil {
			identity = []string{"greeter"}
		}
		c, err := ca.IssueWorkload(pki.WorkloadRequest{Mesh: "secure", Services: identity, Name: name}, now)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := tls.X509KeyPair(c.ChainPEM, c.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return testenv.StartGreeter(t, name, grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{kp}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		})))
	}
	p1, p2 := startTLSBackend("greeter-1"), startTLSBackend("greeter-2")

	srv := NewServer(ServerOptions{})
	addr := startADS(t, srv)
	pl := compiler.NewPlanner("zone-a")
	pl.SetBundle(&compiler.Bundle{Version: "v1", Resources: []schema.Resource{{Type: schema.TypeMesh, Name: "secure", Spec: &schema.MeshSpec{
		MTLS: &schema.MTLS{EnabledBackend: "ca", Backends: []schema.MTLSBackend{{Name: "ca", Type: "builtin"}}}}}}})
	for _, dp := range []schema.Resource{
		grpcDataplane("greeter-1", p1, true, ""), grpcDataplane("greeter-2", p2, true, ""), grpcDataplane("client", 0, false, "greeter"),
	} {
		dp.Mesh = "secure"
		if _, err := pl.UpsertDataplane(dp); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range pl.Proxies() {
		plan, _ := pl.Plan(k)
		c, err := ca.IssueWorkload(pki.WorkloadRequest{Mesh: "secure", Services: plan.Services, Name: k.Name}, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Update(ctx, plan, &Secrets{CertPEM: c.ChainPEM, KeyPEM: c.KeyPEM, CAPEM: ca.CertPEM}); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	client, err := ca.IssueWorkload(pki.WorkloadRequest{Mesh: "secure", Name: "client"}, now)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"cert.pem": client.ChainPEM, "key.pem": client.KeyPEM, "ca.pem": ca.CertPEM}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bootstrap, err := ProxylessBootstrap(ProxylessOptions{Mesh: "secure", Name: "client", XDSAddress: addr,
		CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), CAFile: filepath.Join(dir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	res, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///greeter.mesh", grpc.WithResolvers(res), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	tc := testgrpc.NewTestServiceClient(cc)
	seen := map[string]int{}
	for i := 0; i < 400 && (seen["greeter-1"] == 0 || seen["greeter-2"] == 0); i++ {
		r, err := tc.UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
		if err != nil {
			t.Fatalf("call over mTLS through xds:///greeter.mesh: %v", err)
		}
		seen[r.ServerId]++
	}
	if seen["greeter-1"] == 0 || seen["greeter-2"] == 0 {
		t.Fatalf("calls reached %v, want both backends", seen)
	}

	// Replace the backends with one whose certificate says it is another
	// service: the client must refuse it (SPIFFE id check), not call it.
	p3 := startTLSBackend("impostor-1", "impostor")
	var keys []compiler.ProxyKey
	ks, _ := pl.UpsertDataplane(func() schema.Resource { d := grpcDataplane("greeter-3", p3, true, ""); d.Mesh = "secure"; return d }())
	keys = append(keys, ks...)
	keys = append(keys, pl.DeleteDataplane(compiler.ProxyKey{Mesh: "secure", Name: "greeter-1"})...)
	keys = append(keys, pl.DeleteDataplane(compiler.ProxyKey{Mesh: "secure", Name: "greeter-2"})...)
	for _, k := range keys {
		if plan, err := pl.Plan(k); err == nil {
			if err := srv.Update(ctx, plan, &Secrets{CertPEM: client.ChainPEM, KeyPEM: client.KeyPEM, CAPEM: ca.CertPEM}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		r, err := tc.UnaryCall(cctx, &testgrpc.SimpleRequest{})
		ccancel()
		if r.GetServerId() == "impostor-1" {
			t.Fatal("the client called a backend whose certificate names another service")
		}
		if err != nil {
			t.Logf("refused as expected: %v", err)
			break
		}
		if ctx.Err() != nil {
			t.Fatal("calls kept succeeding after every real backend left")
		}
	}
}
