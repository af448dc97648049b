package kds

import (
	"log/slog"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// XDSRefusal is the message an Envoy (or any xDS client) gets on the KDS port.
const XDSRefusal = "this is the meshc global's KDS port, it serves zone control planes only; dataplanes connect to their zone's xDS port (5678 by default)"

// xdsRefusal answers Envoy's ADS on the KDS port with PermissionDenied, so a
// misconfigured dataplane gets a clear status instead of "unknown service".
type xdsRefusal struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	log *slog.Logger
}

func registerXDSRefusal(g *grpc.Server, log *slog.Logger) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, &xdsRefusal{log: log})
}

func (x *xdsRefusal) refuse(node string, ctxPeer string) error {
	x.log.Warn("xDS request on the KDS port refused", "node", node, "peer", ctxPeer)
	return status.Error(codes.PermissionDenied, XDSRefusal)
}

func (x *xdsRefusal) StreamAggregatedResources(st grpc.BidiStreamingServer[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]) error {
	node := ""
	if req, err := st.Recv(); err == nil {
		node = req.GetNode().GetId()
	}
	return x.refuse(node, peerAddr(st.Context()))
}

func (x *xdsRefusal) DeltaAggregatedResources(st grpc.BidiStreamingServer[discoveryv3.DeltaDiscoveryRequest, discoveryv3.DeltaDiscoveryResponse]) error {
	node := ""
	if req, err := st.Recv(); err == nil {
		node = req.GetNode().GetId()
	}
	return x.refuse(node, peerAddr(st.Context()))
}
