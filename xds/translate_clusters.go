package xds

import (
	"net/netip"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

const defaultConnectTimeout = 5 * time.Second

// cluster returns the (shared) Envoy cluster of a plan cluster. Clusters whose
// endpoints are all IPs use EDS; a cluster with a hostname endpoint (an ingress
// advertised by name) is STRICT_DNS with its endpoints inline.
//
// grpc-go has no STRICT_DNS: proxyless clusters are always EDS, and endpoints
// given by hostname are left out of their assignments.
func (t *Translator) cluster(c *compiler.ClusterPlan, proxyless bool) (*clusterv3.Cluster, string, error) {
	dns := c.Endpoints.Hostnames && !proxyless
	key := c.ConfigHash
	if dns {
		key = "dns|" + c.Hash
	}
	if proxyless {
		key = "pl|" + key
	}
	v, h, err := t.clusters.get(key, func() (*clusterv3.Cluster, error) {
		cl := &clusterv3.Cluster{
			Name:           c.Name,
			ConnectTimeout: durationpb.New(defaultConnectTimeout),
			LbPolicy:       lbPolicy(c.LoadBalancing),
		}
		if dns {
			cl.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
			cl.LoadAssignment = loadAssignment(c.Name, c.Endpoints)
		} else {
			cl.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
			cl.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()}
		}
		if to := c.Timeout; to != nil && to.ConnectionTimeout != nil && to.ConnectionTimeout.Duration > 0 {
			cl.ConnectTimeout = durationpb.New(to.ConnectionTimeout.Duration)
		}
		if err := applyProtocol(cl, c); err != nil {
			return nil, err
		}
		applyCircuitBreaker(cl, c.CircuitBreaker)
		applyHealthCheck(cl, c.HealthCheck, c.Protocol)
		if c.MTLS {
			tlsFor := upstreamTLS
			if proxyless {
				tlsFor = proxylessTLS
			}
			ts, err := tlsFor(c)
			if err != nil {
				return nil, err
			}
			cl.TransportSocket = ts
		} else if ext := c.External; ext != nil && ext.TLS && !ext.ViaEgress && !proxyless {
			// An ExternalService reached directly: the sidecar originates TLS
			// (grpc-go has no plain TLS origination without a certificate provider).
			ts, err := transportSocket(&tlsv3.UpstreamTlsContext{Sni: ext.SNIName()})
			if err != nil {
				return nil, err
			}
			cl.TransportSocket = ts
		}
		if c.LocalityAware {
			// Priorities carry locality awareness; keep every endpoint of a priority in play.
			cl.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{}
		}
		return cl, validate("cluster "+c.Name, cl)
	})
	return v, h, err
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

func lbPolicy(lb *schema.LoadBalancingConf) clusterv3.Cluster_LbPolicy {
	if lb == nil || lb.LoadBalancer == nil {
		return clusterv3.Cluster_ROUND_ROBIN
	}
	switch lb.LoadBalancer.Type {
	case "LeastRequest":
		return clusterv3.Cluster_LEAST_REQUEST
	case "RingHash":
		return clusterv3.Cluster_RING_HASH
	case "Random":
		return clusterv3.Cluster_RANDOM
	case "Maglev":
		return clusterv3.Cluster_MAGLEV
	}
	return clusterv3.Cluster_ROUND_ROBIN
}

// applyProtocol sets HTTP/2 upstream for http2/grpc services and the idle timeout.
func applyProtocol(cl *clusterv3.Cluster, c *compiler.ClusterPlan) error {
	if !compiler.IsHTTP(c.Protocol) {
		return nil
	}
	opts := &upstreamhttpv3.HttpProtocolOptions{}
	if c.Protocol == compiler.ProtocolHTTP2 || c.Protocol == compiler.ProtocolGRPC {
		opts.UpstreamProtocolOptions = &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
			},
		}
	} else {
		opts.UpstreamProtocolOptions = &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
			},
		}
	}
	if to := c.Timeout; to != nil && to.IdleTimeout != nil {
		opts.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(to.IdleTimeout.Duration)}
	}
	a, err := anypb.New(opts)
	if err != nil {
		return err
	}
	cl.TypedExtensionProtocolOptions = map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": a}
	return nil
}

func u32(p *int) *wrapperspb.UInt32Value {
	if p == nil {
		return nil
	}
	return wrapperspb.UInt32(uint32(*p))
}

func dur(d *schema.Duration) *durationpb.Duration {
	if d == nil {
		return nil
	}
	return durationpb.New(d.Duration)
}

func applyCircuitBreaker(cl *clusterv3.Cluster, cb *schema.CircuitBreakerConf) {
	if cb == nil {
		return
	}
	if l := cb.ConnectionLimits; l != nil {
		cl.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			MaxConnections:     u32(l.MaxConnections),
			MaxPendingRequests: u32(l.MaxPendingRequests),
			MaxRequests:        u32(l.MaxRequests),
			MaxRetries:         u32(l.MaxRetries),
		}}}
	}
	if od := cb.OutlierDetection; od != nil && !od.Disabled {
		o := &clusterv3.OutlierDetection{
			Interval:           dur(od.Interval),
			BaseEjectionTime:   dur(od.BaseEjectionTime),
			MaxEjectionPercent: u32(od.MaxEjectionPercent),
			// Only the detectors the policy names are on.
			EnforcingConsecutive_5Xx:               wrapperspb.UInt32(0),
			EnforcingConsecutiveGatewayFailure:     wrapperspb.UInt32(0),
			EnforcingConsecutiveLocalOriginFailure: wrapperspb.UInt32(0),
			EnforcingSuccessRate:                   wrapperspb.UInt32(0),
		}
		if d := od.Detectors; d != nil {
			if d.TotalFailures != nil {
				o.Consecutive_5Xx = u32(d.TotalFailures.Consecutive)
				o.EnforcingConsecutive_5Xx = wrapperspb.UInt32(100)
			}
			if d.GatewayFailures != nil {
				o.ConsecutiveGatewayFailure = u32(d.GatewayFailures.Consecutive)
				o.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(100)
			}
			if d.LocalOriginFailures != nil {
				o.SplitExternalLocalOriginErrors = true
				o.ConsecutiveLocalOriginFailure = u32(d.LocalOriginFailures.Consecutive)
				o.EnforcingConsecutiveLocalOriginFailure = wrapperspb.UInt32(100)
			}
		} else {
			o.EnforcingConsecutive_5Xx = wrapperspb.UInt32(100)
		}
		cl.OutlierDetection = o
	}
}

func applyHealthCheck(cl *clusterv3.Cluster, hc *schema.HealthCheckConf, protocol string) {
	if hc == nil {
		return
	}
	h := &corev3.HealthCheck{
		Timeout:            durationpb.New(time.Second),
		Interval:           durationpb.New(10 * time.Second),
		UnhealthyThreshold: wrapperspb.UInt32(3),
		HealthyThreshold:   wrapperspb.UInt32(1),
	}
	if hc.Timeout != nil {
		h.Timeout = dur(hc.Timeout)
	}
	if hc.Interval != nil {
		h.Interval = dur(hc.Interval)
	}
	if hc.UnhealthyThreshold != nil {
		h.UnhealthyThreshold = u32(hc.UnhealthyThreshold)
	}
	if hc.HealthyThreshold != nil {
		h.HealthyThreshold = u32(hc.HealthyThreshold)
	}
	// Envoy checks a cluster without traffic only every 60 s by default: a
	// host whose first check failed (its proxy was still starting) would stay
	// out for a minute, spilling traffic to other priorities (zones).
	h.NoTrafficInterval = h.Interval
	if hc.HTTP != nil && !hc.HTTP.Disabled && compiler.IsHTTP(protocol) {
		path := hc.HTTP.Path
		if path == "" {
			path = "/"
		}
		hh := &corev3.HealthCheck_HttpHealthCheck{Path: path}
		for _, s := range hc.HTTP.ExpectedStatuses {
			hh.ExpectedStatuses = append(hh.ExpectedStatuses, &typev3.Int64Range{Start: int64(s), End: int64(s) + 1})
		}
		if protocol == compiler.ProtocolHTTP2 || protocol == compiler.ProtocolGRPC {
			hh.CodecClientType = typev3.CodecClientType_HTTP2
		}
		h.HealthChecker = &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: hh}
	} else {
		h.HealthChecker = &corev3.HealthCheck_TcpHealthCheck_{TcpHealthCheck: &corev3.HealthCheck_TcpHealthCheck{}}
	}
	cl.HealthChecks = []*corev3.HealthCheck{h}
}

// upstreamTLS presents the proxy's certificate, sends the SNI of DESIGN.md §4
// and accepts only a server certificate for the destination's SPIFFE id.
func upstreamTLS(c *compiler.ClusterPlan) (*corev3.TransportSocket, error) {
	ctx := &tlsv3.UpstreamTlsContext{
		Sni: c.SNI,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: SecretIdentity, SdsConfig: adsSource()}},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext: &tlsv3.CertificateValidationContext{
						MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
							SanType: tlsv3.SubjectAltNameMatcher_URI,
							Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: c.SPIFFE}},
						}},
					},
					ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: SecretMeshCA, SdsConfig: adsSource()},
				},
			},
		},
	}
	a, err := anypb.New(ctx)
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}

// ProxylessCertProvider is the certificate provider instance a proxyless
// client's bootstrap must define (ProxylessBootstrap writes a file_watcher).
const ProxylessCertProvider = "meshc"

// proxylessTLS is mTLS for grpc-go: identity and roots from the bootstrap's
// certificate provider, the destination's SPIFFE id required of the server.
func proxylessTLS(c *compiler.ClusterPlan) (*corev3.TransportSocket, error) {
	ctx := &tlsv3.UpstreamTlsContext{
		Sni: c.SNI,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: ProxylessCertProvider, CertificateName: "default"},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				CaCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: ProxylessCertProvider, CertificateName: "default"},
				MatchSubjectAltNames:          []*matcherv3.StringMatcher{{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: c.SPIFFE}}},
			}},
		},
	}
	a, err := anypb.New(ctx)
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}

// endpoints returns the (shared) ClusterLoadAssignment of a plan cluster.
func (t *Translator) endpoints(c *compiler.ClusterPlan, proxyless bool) (*endpointv3.ClusterLoadAssignment, string, error) {
	key := c.Name + "|" + c.Endpoints.Hash
	es := c.Endpoints
	if proxyless && es.Hostnames {
		key = "ip-only|" + key
		es = ipOnly(es)
	}
	v, h, err := t.cla.get(key, func() (*endpointv3.ClusterLoadAssignment, error) {
		cla := loadAssignment(c.Name, es)
		return cla, validate("endpoints "+c.Name, cla)
	})
	return v, h, err
}

// ipOnly drops endpoints given by hostname; priorities are renumbered so that
// they still run 0, 1, … without a gap.
func ipOnly(es *compiler.EndpointSet) *compiler.EndpointSet {
	out := &compiler.EndpointSet{Hash: es.Hash}
	for _, e := range es.Endpoints {
		if _, err := netip.ParseAddr(e.Address); err == nil {
			out.Endpoints = append(out.Endpoints, e)
		}
	}
	prio, next := map[int]int{}, 0
	for i, e := range out.Endpoints {
		if _, ok := prio[e.Priority]; !ok {
			prio[e.Priority] = next
			next++
		}
		out.Endpoints[i].Priority = prio[e.Priority]
	}
	return out
}

// loadAssignment groups endpoints by (priority, locality); a locality's weight
// is the sum of its endpoints' weights (grpc-go drops a locality without one).
func loadAssignment(name string, es *compiler.EndpointSet) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	var cur *endpointv3.LocalityLbEndpoints
	for _, e := range es.Endpoints {
		if cur == nil || cur.Priority != uint32(e.Priority) || cur.Locality.Zone != e.Locality {
			cur = &endpointv3.LocalityLbEndpoints{
				Locality:            &corev3.Locality{Zone: e.Locality},
				Priority:            uint32(e.Priority),
				LoadBalancingWeight: wrapperspb.UInt32(0),
			}
			cla.Endpoints = append(cla.Endpoints, cur)
		}
		cur.LoadBalancingWeight.Value += uint32(e.Weight)
		cur.LbEndpoints = append(cur.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: sockAddr(e.Address, e.Port),
			}},
			LoadBalancingWeight: wrapperspb.UInt32(uint32(e.Weight)),
		})
	}
	return cla
}

func sockAddr(addr string, port int) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       addr,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}

// localCluster is the cluster from an inbound to its application on 127.0.0.1.
func (t *Translator) localCluster(port int, protocol string) (*clusterv3.Cluster, string, error) {
	name := localClusterName(port)
	key := name + "|" + protocol
	v, h, err := t.clusters.get(key, func() (*clusterv3.Cluster, error) {
		cl := &clusterv3.Cluster{
			Name:                 name,
			ConnectTimeout:       durationpb.New(defaultConnectTimeout),
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
			LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: sockAddr("127.0.0.1", port),
				}}}},
			}}},
		}
		if err := applyProtocol(cl, &compiler.ClusterPlan{Protocol: protocol}); err != nil {
			return nil, err
		}
		return cl, validate("cluster "+name, cl)
	})
	return v, h, err
}

func localClusterName(port int) string { return "localhost:" + itoa(port) }
