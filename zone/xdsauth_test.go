package zone

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshc/meshc/xds"
)

// TestXDSRequiresDataplaneToken runs the real xDS server behind XDSAuth and
// opens ADS streams as a dataplane would.
func TestXDSRequiresDataplaneToken(t *testing.T) {
	t.Parallel()
	tokens, client := authedADS(t)

	good, _ := tokens.Issue("default", "web-1", time.Hour, time.Now())
	other, _ := tokens.Issue("default", "web-2", time.Hour, time.Now())
	for _, tc := range []struct {
		name  string
		token string
		want  codes.Code
	}{
		{"no token", "", codes.Unauthenticated},
		{"token of another dataplane", other, codes.PermissionDenied},
		{"garbage", "meshc1.x.y", codes.PermissionDenied},
		{"valid", good, codes.DeadlineExceeded}, // admitted: the stream stays open waiting for config
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if tc.token != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tc.token)
			}
			stream, err := client.StreamAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "default.web-1"}, TypeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster"}); err != nil {
				t.Fatal(err)
			}
			_, err = stream.Recv()
			if got := status.Code(err); got != tc.want {
				t.Errorf("Recv: %v (code %v), want %v", err, got, tc.want)
			}
		})
	}
}

// authedADS serves the real xDS server behind XDSAuth on loopback and returns
// the zone's token issuer and an ADS client to open streams as a proxy would.
func authedADS(t *testing.T) (*Tokens, discoveryv3.AggregatedDiscoveryServiceClient) {
	t.Helper()
	tokens, err := LoadOrCreateTokens(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := xds.NewServer(xds.ServerOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	g := grpc.NewServer(grpc.StreamInterceptor(XDSAuth(tokens, time.Now)))
	srv.Register(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); srv.Close(); g.Stop() })
	return tokens, discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
}
