package xds

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/internal/testenv"
	"github.com/meshc/meshc/pki"
	"google.golang.org/grpc"
)

// waitAcked waits until the node has ACKed the served version of types.
func waitAcked(t *testing.T, ctx context.Context, srv *Server, node string, types ...int) {
	t.Helper()
	for {
		res, err := srv.Resources(node)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := srv.Status(node)
		done := true
		for _, ty := range types {
			if st.Acked[typeURLs[ty]] != res.Versions[ty] {
				done = false
			}
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("envoy did not ACK: served %v acked %v", res.Versions, st.Acked)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startADSAt serves s on addr (a restarted server on its old address).
func startADSAt(t *testing.T, s *Server, addr string) func() {
	t.Helper()
	var lis net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	s.Register(g)
	go g.Serve(lis)
	stop := func() { s.Close(); g.Stop() }
	t.Cleanup(stop)
	return stop
}

// TestEnvoyConvergesAfterServerRestart: the zone agent (its xDS server) is
// killed and restarted; Envoy reconnects to a server that has no snapshot
// for it yet, gets an empty one (Mesh not known yet), then the full config
// with a re-issued certificate. Every type must be ACKed (the first request
// on the new stream reports the version Envoy runs) and Envoy must run it.
func TestEnvoyConvergesAfterServerRestart(t *testing.T) {
	envoy := testenv.Envoy(t)
	ca, err := pki.NewCA("default", pki.CAOptions{ECDSA: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	srv := NewServer(ServerOptions{})
	stop := startADSAt(t, srv, addr)
	p, key := envoyPlanner(t)
	plan, err := p.Plan(key)
	if err != nil {
		t.Fatal(err)
	}
	issue := func() *Secrets {
		c, err := ca.IssueWorkload(pki.WorkloadRequest{Mesh: "default", Services: plan.Services, Name: key.Name}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return &Secrets{CertPEM: c.ChainPEM, KeyPEM: c.KeyPEM, CAPEM: ca.CertPEM}
	}
	if err := srv.Update(ctx, plan, issue()); err != nil {
		t.Fatal(err)
	}
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t))
	runEnvoy(t, ctx, envoy, BootstrapOptions{Mesh: key.Mesh, Name: key.Name, XDSAddress: addr, AdminAddress: admin})
	waitAllAcked(t, ctx, srv, key.String(), 5)
	for round := 0; round < 6; round++ {
		stop()
		srv = NewServer(ServerOptions{})
		connected := make(chan struct{}, 1)
		srv.opts.OnConnect = func(string, bool) {
			select {
			case connected <- struct{}{}:
			default:
			}
		}
		stop = startADSAt(t, srv, addr)
		<-connected
		if round%2 == 0 {
			empty := &compiler.ProxyPlan{Key: key, Zone: plan.Zone, Hash: "empty"}
			if err := srv.Update(ctx, empty, nil); err != nil {
				t.Fatal(err)
			}
			waitAcked(t, ctx, srv, key.String(), typeListener, typeCluster)
		}
		if err := srv.Update(ctx, plan, issue()); err != nil {
			t.Fatal(err)
		}
		// Less than Envoy's 15 s initial fetch timeout.
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		waitAllAcked(t, wctx, srv, key.String(), 5)
		waitEnvoyRuns(t, wctx, srv, key.String(), admin)
		wcancel()
		t.Logf("round %d converged", round)
	}
}

// TestEnvoyFollowsSubscriptionChanges: the proxy's clusters go away (an empty
// plan, as a restarted zone publishes before it knows the Mesh), come back one
// at a time, and the certificate is re-issued in between, so Envoy's
// subscriptions to endpoints and secrets shrink and grow while new versions
// are served. Envoy must end up running the served config: no cluster,
// listener or secret warming, every EDS cluster with hosts, the served secrets
// active. (go-control-plane's ADS mode alone leaves such requests unanswered:
// Envoy waits 15 s for endpoints, or forever for a secret.)
func TestEnvoyFollowsSubscriptionChanges(t *testing.T) {
	envoy := testenv.Envoy(t)
	ca, err := pki.NewCA("default", pki.CAOptions{ECDSA: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	srv := NewServer(ServerOptions{BreakDelay: time.Second})
	addr := startADS(t, srv)
	p, key := envoyPlanner(t)
	planWith := func(outbounds ...int) *compiler.ProxyPlan {
		if _, err := p.UpsertDataplane(dpWith(key.Name, freePort(t), "web", "http", "", outbounds...)); err != nil {
			t.Fatal(err)
		}
		plan, err := p.Plan(key)
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}
	issue := func(plan *compiler.ProxyPlan) *Secrets {
		c, err := ca.IssueWorkload(pki.WorkloadRequest{Mesh: "default", Services: plan.Services, Name: key.Name}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return &Secrets{CertPEM: c.ChainPEM, KeyPEM: c.KeyPEM, CAPEM: ca.CertPEM}
	}
	full := planWith(freePort(t), freePort(t))
	if err := srv.Update(ctx, full, issue(full)); err != nil {
		t.Fatal(err)
	}
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t))
	runEnvoy(t, ctx, envoy, BootstrapOptions{Mesh: key.Mesh, Name: key.Name, XDSAddress: addr, AdminAddress: admin})
	waitAllAcked(t, ctx, srv, key.String(), 5)
	waitEnvoyRuns(t, ctx, srv, key.String(), admin)

	for round := 0; round < 4; round++ {
		empty := &compiler.ProxyPlan{Key: key, Zone: full.Zone, Hash: "empty"}
		if err := srv.Update(ctx, empty, nil); err != nil {
			t.Fatal(err)
		}
		waitAcked(t, ctx, srv, key.String(), typeListener, typeCluster)
		steps := []*compiler.ProxyPlan{planWith(freePort(t)), planWith(freePort(t), freePort(t))}
		for i, plan := range steps {
			if err := srv.Update(ctx, plan, issue(plan)); err != nil {
				t.Fatal(err)
			}
			if round%2 == 0 || i == len(steps)-1 {
				// Less than Envoy's 15 s initial fetch timeout.
				wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
				waitEnvoyRuns(t, wctx, srv, key.String(), admin)
				wcancel()
			}
		}
		t.Logf("round %d converged", round)
	}
}
