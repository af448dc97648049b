package kds

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	kdsv1 "github.com/meshc/meshc/kds/v1"
	"github.com/meshc/meshc/token"
)

func httpDo(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(`{"type":"MeshTimeout","name":"x","mesh":"default"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// DELETE /zones/NAME is refused while the zone is connected and, once it is
// gone, removes its inventory from the global and its ingress from the others.
func TestDeleteZoneRefusedThenAllowed(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	g.bundles.Set(bundleOf(nil))
	a := startZone(t, g, "zone-a", nil)
	b := startZone(t, g, "zone-b", nil)
	b.source.Set(ingress("ingress-1", map[string]int{"backend": 3}), dataplane("backend-1", "backend"))
	eventually(t, "zone-a sees zone-b's ingress", func() bool { return len(a.remoteServices()) == 1 })

	code, body := httpDo(t, "DELETE", g.http.URL+"/zones/zone-b")
	var e struct{ Title string }
	_ = json.Unmarshal([]byte(body), &e)
	if code != http.StatusConflict || e.Title != "zone: unable to delete Zone, Zone CP is still connected, please shut it down first" {
		t.Fatalf("DELETE while connected = %d %s", code, body)
	}
	b.stop()
	eventually(t, "zone-b offline", func() bool { return !g.zones(t)["zone-b"].Online })
	// Offline but not deleted: its ingress still routes (the zone may come back).
	if len(a.remoteServices()) != 1 {
		t.Fatal("zone-b's ingress vanished on disconnect alone")
	}
	if code, body := httpDo(t, "DELETE", g.http.URL+"/zones/zone-b"); code != http.StatusOK {
		t.Fatalf("DELETE after disconnect = %d %s", code, body)
	}
	eventually(t, "zone-a no longer sees zone-b's ingress", func() bool { return len(a.remoteServices()) == 0 })
	if _, ok := g.zones(t)["zone-b"]; ok {
		t.Fatal("deleted zone still listed")
	}
	var dps InventoryList
	g.getJSON(t, "/meshes/default/dataplanes", &dps)
	if dps.Total != 0 {
		t.Fatalf("deleted zone's dataplanes still in the inventory: %+v", dps)
	}
	if code, _ := httpDo(t, "DELETE", g.http.URL+"/zones/zone-b"); code != http.StatusNotFound {
		t.Fatalf("DELETE of an unknown zone = %d, want 404", code)
	}
	// Policy writes are refused at the global.
	for _, p := range []string{"/meshes/default/meshtimeouts/x", "/meshes/default", "/meshes", "/zone-ingresses/i", "/zones/zone-c"} {
		code, body := httpDo(t, "PUT", g.http.URL+p)
		if code != http.StatusMethodNotAllowed || !strings.Contains(body, "Git is the only writer") {
			t.Fatalf("PUT %s = %d %s", p, code, body)
		}
	}
}

// Zone{enabled: false} in Git closes the zone's stream with a clear status,
// removes its ingress from the other zones and lists it disabled.
func TestDisabledZoneStopsSyncing(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	g.bundles.Set(bundleOf(nil))
	a := startZone(t, g, "zone-a", nil)
	b := startZone(t, g, "zone-b", nil)
	b.source.Set(ingress("ingress-1", map[string]int{"backend": 1}))
	eventually(t, "zone-a sees zone-b's ingress", func() bool { return len(a.remoteServices()) == 1 })

	g.bundles.Set(bundleOf([]string{"p1"}, zoneRes("zone-b", false)))
	eventually(t, "zone-b listed disabled and offline", func() bool {
		z := g.zones(t)["zone-b"]
		return !z.Enabled && !z.Online
	})
	eventually(t, "zone-a drops zone-b's ingress", func() bool { return len(a.remoteServices()) == 0 })
	eventually(t, "zone-b told it is disabled", func() bool {
		return strings.Contains(b.client.Status().LastError, `zone "zone-b" is disabled`)
	})
	if g.zones(t)["zone-b"].Online {
		t.Fatal("disabled zone reconnected")
	}
	// Enabling it again lets it back in.
	g.bundles.Set(bundleOf([]string{"p1"}, zoneRes("zone-b", true)))
	eventually(t, "zone-b back online and its ingress back at zone-a", func() bool {
		return g.zones(t)["zone-b"].Online && len(a.remoteServices()) == 1
	})
}

// Missing, malformed, expired, foreign and another zone's tokens are refused
// with Unauthenticated and a message saying what to do.
func TestBadTokensRefused(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	g.bundles.Set(bundleOf(nil))
	expired, _ := g.iss.IssueZone("zone-a", time.Hour, time.Now().Add(-2*time.Hour))
	other, _, _ := token.LoadOrCreate(t.TempDir())
	foreign, _ := other.IssueZone("zone-a", time.Hour, time.Now())
	cases := map[string]struct{ tok, want string }{
		"missing":      {"", "no zone token"},
		"garbage":      {"not-a-token", "malformed token"},
		"expired":      {expired, "token expired"},
		"other global": {foreign, "signature is not valid"},
		"other zone":   {g.token(t, "zone-b"), `belongs to zone "zone-b" but the agent calls itself "zone-a"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stream := dialRaw(t, ctx, g, tc.tok)
			_ = stream.Send(&kdsv1.ZoneMessage{Msg: &kdsv1.ZoneMessage_Hello{Hello: &kdsv1.Hello{Zone: "zone-a"}}})
			_, err := stream.Recv()
			if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "meshc token zone") {
				t.Fatalf("err = %v, want Unauthenticated with %q", err, tc.want)
			}
		})
	}
	t.Cleanup(func() {
		if _, ok := g.zones(t)["zone-a"]; ok {
			t.Error("a refused zone was registered")
		}
	})
}

func dialRaw(t *testing.T, ctx context.Context, g *testGlobal, tok string, opts ...grpc.CallOption) kdsv1.KDS_SyncClient {
	t.Helper()
	conn := dialTLS(t, g)
	if tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	stream, err := kdsv1.NewKDSClient(conn).Sync(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func dialTLS(t *testing.T, g *testGlobal) *grpc.ClientConn {
	t.Helper()
	conf, err := ClientTLS(g.caFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(g.addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// rawCodec sends bytes as they are: a zone gone wrong.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)   { return v.([]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error { *(v.(*[]byte)) = b; return nil }
func (rawCodec) Name() string                    { return "proto" }

// Garbage and oversized messages end that zone's stream with an error; the
// global lives on and other zones keep syncing.
func TestGarbageAndOversizedMessagesEndOnlyThatStream(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, func(o *ServerOptions) { o.MaxRecvMsgSize = 64 << 10 })
	v1 := bundleOf(nil)
	g.bundles.Set(v1)
	a := startZone(t, g, "zone-a", nil)
	eventually(t, "zone-a applies v1", func() bool { return a.applied(v1) })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := dialTLS(t, g)
	desc := &grpc.StreamDesc{StreamName: "Sync", ServerStreams: true, ClientStreams: true}
	rctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+g.token(t, "zone-x"))
	raw, err := conn.NewStream(rctx, desc, kdsv1.KDS_Sync_FullMethodName, grpc.ForceCodecV2(nil), grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.SendMsg([]byte{0xff, 0xff, 0xff, 0x01, 0x02}); err != nil {
		t.Fatal(err)
	}
	var out []byte
	err = raw.RecvMsg(&out)
	if c := status.Code(err); c != codes.Internal && c != codes.InvalidArgument {
		t.Fatalf("garbage message: err = %v, want the stream to end with an error", err)
	}
	t.Logf("garbage → %v", err)

	// Oversized: a valid Hello then an Update bigger than the limit.
	big := dialRaw(t, ctx, g, g.token(t, "zone-y"))
	_ = big.Send(&kdsv1.ZoneMessage{Msg: &kdsv1.ZoneMessage_Hello{Hello: &kdsv1.Hello{Zone: "zone-y"}}})
	_ = big.Send(&kdsv1.ZoneMessage{Msg: &kdsv1.ZoneMessage_Update{Update: &kdsv1.Update{Nonce: "1", Full: true,
		Upserts: []*kdsv1.Resource{{Kind: "Dataplane", Mesh: "default", Name: "huge", Body: make([]byte, 100<<10)}}}}})
	for {
		_, err = big.Recv()
		if err != nil {
			break
		}
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized message: err = %v, want ResourceExhausted", err)
	}
	t.Logf("oversized → %v", err)

	// The global is alive and zone-a still follows bundles.
	v2 := bundleOf([]string{"after"})
	g.bundles.Set(v2)
	eventually(t, "zone-a applies v2 after the bad streams", func() bool { return a.applied(v2) })
	eventually(t, "zone-y offline", func() bool { return !g.zones(t)["zone-y"].Online })
}

// An Envoy (xDS) on the KDS port gets PermissionDenied naming the right port.
func TestXDSOnKDSPortRefused(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ads, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dialTLS(t, g)).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = ads.Send(&discoveryv3.DiscoveryRequest{TypeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster"})
	_, err = ads.Recv()
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "xDS port (5678") {
		t.Fatalf("ADS on the KDS port: %v", err)
	}
	delta, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dialTLS(t, g)).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = delta.Send(&discoveryv3.DeltaDiscoveryRequest{})
	if _, err = delta.Recv(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("delta ADS on the KDS port: %v", err)
	}
}

// A restarted global still lists a zone that is offline and still hands its
// ingress to the other zones; it does not list it online.
func TestGlobalRestartKeepsZoneRegistry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g := startGlobalIn(t, dir, nil)
	v1 := bundleOf([]string{"p1"})
	g.bundles.Set(v1)
	b := startZone(t, g, "zone-b", nil)
	b.source.Set(ingress("ingress-1", map[string]int{"backend": 4}), dataplane("backend-1", "backend"))
	eventually(t, "zone-b's inventory at the global", func() bool { z := g.zones(t)["zone-b"]; return z.ZoneIngresses == 1 && z.BundleVersion == v1.Version })
	b.stop()
	eventually(t, "zone-b offline", func() bool { return !g.zones(t)["zone-b"].Online })
	g.stop()

	g2 := startGlobalIn(t, dir, nil)
	g2.bundles.Set(v1)
	zb := g2.zones(t)["zone-b"]
	if zb.Online || zb.Dataplanes != 1 || zb.ZoneIngresses != 1 || zb.BundleVersion != v1.Version || zb.DisconnectedAt == nil {
		t.Fatalf("restarted global lists zone-b as %+v", zb)
	}
	a := startZone(t, g2, "zone-a", nil)
	eventually(t, "zone-a sees offline zone-b's ingress", func() bool {
		return slices.Equal(a.remoteServices(), []string{"zone-b/backend=4"})
	})
}

// A stream does not outlive its token: at expiry the global closes it with
// Unauthenticated, and the zone (still holding the expired token) stays out.
func TestStreamEndsWhenTokenExpires(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	g.bundles.Set(bundleOf(nil))
	tok, err := g.iss.IssueZone("zone-a", 3*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a := startZone(t, g, "zone-a", func(o *ClientOptions) { o.Token = tok })
	eventually(t, "zone-a's stream closed at token expiry", func() bool {
		z := g.zones(t)["zone-a"]
		return z.ConnectedAt != nil && !z.Online && strings.Contains(a.client.Status().LastError, "token expired")
	})
}

// A zone that does not trust the global's certificate says what to pass.
func TestUntrustedGlobalCertificateNamesTheFix(t *testing.T) {
	t.Parallel()
	g := startGlobal(t, nil)
	g.bundles.Set(bundleOf(nil))
	a := startZone(t, g, "zone-a", func(o *ClientOptions) { o.TLS = nil }) // system roots only
	eventually(t, "TLS failure with a hint", func() bool {
		return strings.Contains(a.client.Status().LastError, "--ca-cert")
	})
	if _, ok := g.zones(t)["zone-a"]; ok {
		t.Fatal("a zone that could not verify the global was registered")
	}
}
