package xds

import (
	"fmt"
	"net"
	"strconv"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

// XDSClusterName is the static cluster of a bootstrap that points at the zone's xDS server.
const XDSClusterName = "meshc_xds"

// BootstrapOptions describe a sidecar's Envoy bootstrap (meshc dp bootstrap).
type BootstrapOptions struct {
	// Mesh and Name identify the dataplane; the node id is `<mesh>.<name>`.
	Mesh, Name string
	// Cluster is Envoy's service cluster (the dataplane's first service).
	Cluster string
	// XDSAddress is the zone's xDS server (host:port).
	XDSAddress string
	// TLS: connect to the xDS server over TLS, trusting CACertPEM (the zone's
	// certificate, or its CA); plaintext when false (a zone run with --dev).
	TLS       bool
	CACertPEM []byte
	// Token is the dataplane token, sent as `authorization: Bearer <token>` gRPC metadata.
	Token string
	// AdminAddress is Envoy's admin interface (default 127.0.0.1:9901). Keep it on loopback.
	AdminAddress string
	// Metadata is added to the node's metadata (string values).
	Metadata map[string]string
	// Delta selects incremental xDS (DELTA_GRPC) instead of state of the world.
	Delta bool
}

// Bootstrap builds an Envoy bootstrap that takes every listener and cluster
// over ADS (state of the world) from the zone and serves admin on loopback.
func Bootstrap(o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	if o.Mesh == "" || o.Name == "" {
		return nil, fmt.Errorf("bootstrap: mesh and name are required")
	}
	xhost, xport, err := splitHostPort(o.XDSAddress)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: xDS address %q: %w", o.XDSAddress, err)
	}
	if o.AdminAddress == "" {
		o.AdminAddress = "127.0.0.1:9901"
	}
	ahost, aport, err := splitHostPort(o.AdminAddress)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: admin address %q: %w", o.AdminAddress, err)
	}
	md := map[string]any{"meshc.io/mesh": o.Mesh, "meshc.io/name": o.Name}
	for k, v := range o.Metadata {
		md[k] = v
	}
	mdStruct, err := structpb.NewStruct(md)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: metadata: %w", err)
	}
	cluster := o.Cluster
	if cluster == "" {
		cluster = o.Name
	}
	h2, err := anypb.New(&httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}},
	})
	if err != nil {
		return nil, err
	}
	xdsCluster := &clusterv3.Cluster{
		Name:                 XDSClusterName,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		ConnectTimeout:       durationpb.New(2 * time.Second),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2,
		},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: XDSClusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(xhost, xport)}},
			}}}},
		},
	}
	if o.TLS {
		ctx := &tlsv3.UpstreamTlsContext{Sni: xhost, CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols: []string{"h2"},
		}}
		if len(o.CACertPEM) > 0 {
			ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: o.CACertPEM}},
			}}
		}
		ts, err := anypb.New(ctx)
		if err != nil {
			return nil, err
		}
		xdsCluster.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: ts}}
	}
	grpcService := &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSClusterName}}}
	if o.Token != "" {
		grpcService.InitialMetadata = []*corev3.HeaderValue{{Key: "authorization", Value: "Bearer " + o.Token}}
	}
	ads := &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3, ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
	b := &bootstrapv3.Bootstrap{
		Node:  &corev3.Node{Id: o.Mesh + "." + o.Name, Cluster: cluster, Metadata: mdStruct},
		Admin: &bootstrapv3.Admin{Address: socketAddress(ahost, aport)},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:                   apiType(o.Delta),
				TransportApiVersion:       corev3.ApiVersion_V3,
				SetNodeOnFirstMessageOnly: true,
				GrpcServices:              []*corev3.GrpcService{grpcService},
			},
			CdsConfig: ads,
			LdsConfig: proto.Clone(ads).(*corev3.ConfigSource),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{xdsCluster}},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return b, nil
}

// BootstrapJSON renders Bootstrap(o) as indented JSON (Envoy's -c file).
func BootstrapJSON(o BootstrapOptions) ([]byte, error) {
	b, err := Bootstrap(o)
	if err != nil {
		return nil, err
	}
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func splitHostPort(addr string) (string, uint32, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if h == "" {
		h = "127.0.0.1"
	}
	return h, uint32(n), nil
}

func apiType(delta bool) corev3.ApiConfigSource_ApiType {
	if delta {
		return corev3.ApiConfigSource_DELTA_GRPC
	}
	return corev3.ApiConfigSource_GRPC
}
