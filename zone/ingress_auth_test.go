package zone

import (
	"context"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshc/meshc/compiler"
)

// A zone ingress's xDS stream (node `_zone-ingress.<name>`) is admitted with
// a token issued for mesh `_zone-ingress` and its name, and refused with a
// dataplane's token.
func TestXDSZoneIngressToken(t *testing.T) {
	t.Parallel()
	tokens, client := authedADS(t)
	good, _ := tokens.Issue(compiler.IngressNodePrefix, "ingress-1", time.Hour, time.Now())
	dp, _ := tokens.Issue("default", "ingress-1", time.Hour, time.Now())
	for _, tc := range []struct {
		name, token string
		want        codes.Code
	}{
		{"dataplane token", dp, codes.PermissionDenied},
		{"zone ingress token", good, codes.DeadlineExceeded}, // admitted: waits for config
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tc.token)
			stream, err := client.StreamAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: compiler.IngressNodeID("ingress-1")}, TypeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster"}); err != nil {
				t.Fatal(err)
			}
			_, err = stream.Recv()
			if got := status.Code(err); got != tc.want {
				t.Errorf("Recv: %v (code %v), want %v", err, got, tc.want)
			}
		})
	}
}
