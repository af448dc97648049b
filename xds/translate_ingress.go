package xds

import (
	"context"
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/meshc/meshc/compiler"
)

// IngressListenerName is the name of a zone ingress's single listener.
const IngressListenerName = "zone-ingress"

// TranslateIngress builds a zone ingress's (or egress's) resources: one listener that reads
// the TLS SNI (tls_inspector) without terminating TLS, a filter chain per SNI
// whose tcp_proxy forwards the raw stream to an EDS cluster named by the SNI
// holding this zone's instances. With no route the ingress has no listener
// (Envoy refuses a listener without filter chains).
func (t *Translator) TranslateIngress(p *compiler.IngressPlan) (*Resources, error) {
	r := newResources(p.NodeID)
	if len(p.Routes) > 0 {
		l, err := sniListener(IngressListenerName, p.Address, p.Port, p.Routes)
		if err != nil {
			return nil, fmt.Errorf("translate ingress %s: %w", p.Name, err)
		}
		r.add(typeListener, l.Name, hashProto(l), l)
	}
	for _, rt := range p.Routes {
		cl, cla, err := passthroughCluster(rt.SNI, rt.Endpoints)
		if err != nil {
			return nil, fmt.Errorf("translate ingress %s: %w", p.Name, err)
		}
		r.add(typeCluster, cl.Name, hashProto(cl), cl)
		if cla != nil {
			r.add(typeEndpoint, cla.ClusterName, hashProto(cla), cla)
		}
	}
	r.seal()
	return r, nil
}

// sniListener listens on address:port and sends each TLS stream, by SNI, to
// the cluster named like the SNI.
func sniListener(name, address string, port int, routes []*compiler.IngressRoute) (*listenerv3.Listener, error) {
	insp, err := anypb.New(&tlsinspectorv3.TlsInspector{})
	if err != nil {
		return nil, err
	}
	l := &listenerv3.Listener{
		Name:    name,
		Address: sockAddr(address, port),
		ListenerFilters: []*listenerv3.ListenerFilter{{
			Name:       "envoy.filters.listener.tls_inspector",
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: insp},
		}},
		TrafficDirection: corev3.TrafficDirection_INBOUND,
	}
	for _, rt := range routes {
		f, err := typed("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{
			StatPrefix:       rt.SNI,
			ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: rt.SNI},
		})
		if err != nil {
			return nil, err
		}
		l.FilterChains = append(l.FilterChains, &listenerv3.FilterChain{
			Name:             rt.SNI,
			FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{rt.SNI}, TransportProtocol: "tls"},
			Filters:          []*listenerv3.Filter{f},
		})
	}
	return l, validate("listener "+name, l)
}

// passthroughCluster is a plain-TCP EDS cluster (the stream is already TLS end to end).
func passthroughCluster(name string, es *compiler.EndpointSet) (*clusterv3.Cluster, *endpointv3.ClusterLoadAssignment, error) {
	cl := &clusterv3.Cluster{
		Name:                 name,
		ConnectTimeout:       durationpb.New(defaultConnectTimeout),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
	}
	if es.Hostnames {
		// An egress forwarding to an ingress advertised by host name resolves it.
		cl.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		cl.EdsClusterConfig = nil
		cl.LoadAssignment = loadAssignment(name, es)
		return cl, nil, validate("cluster "+name, cl)
	}
	if err := validate("cluster "+name, cl); err != nil {
		return nil, nil, err
	}
	cla := loadAssignment(name, es)
	if err := validate("endpoints "+name, cla); err != nil {
		return nil, nil, err
	}
	return cl, cla, nil
}

// UpdateIngress translates and publishes a zone ingress's configuration for
// its node id (make-before-break as for sidecars).
func (s *Server) UpdateIngress(ctx context.Context, p *compiler.IngressPlan) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	res, err := s.tr.TranslateIngress(p)
	if err != nil {
		s.metrics.errors.Inc()
		return err
	}
	err = s.publish(p.NodeID, res, flSidecar)
	s.metrics.translate.Observe(time.Since(start).Seconds())
	return err
}

// RemoveNode forgets the node with id (a zone ingress or egress that left).
func (s *Server) RemoveNode(id string) {
	s.mu.Lock()
	if n := s.nodes[id]; n != nil {
		n.stopTimers()
	}
	delete(s.nodes, id)
	s.mu.Unlock()
	s.sidecars.ClearSnapshot(id)
}
