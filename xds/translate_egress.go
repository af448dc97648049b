package xds

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshc/meshc/compiler"
)

// This file translates what the zone egress does for ExternalServices
// (compiler/external.go): per external service a filter chain on the egress
// listener matching the service's SNI that terminates the sidecar's mesh
// mTLS (presenting the mesh identity the zone issued the egress, requiring a
// client certificate from the mesh CA), checks MeshTrafficPermission per
// connection, and forwards to the external address (TLS originated when the
// ExternalService says so).

// EgressSecretIdentity and EgressSecretCA name a mesh's SDS secrets on the egress.
func EgressSecretIdentity(mesh string) string { return SecretIdentity + ":" + mesh }

// EgressSecretCA is the SDS name of mesh's CA on the egress.
func EgressSecretCA(mesh string) string { return SecretMeshCA + ":" + mesh }

// TranslateEgress builds a zone egress's resources: the ingress-like SNI
// passthrough for cross-zone routes and, for each external service whose
// mesh has secrets in secs (mesh → the egress's identity in that mesh), a
// terminating filter chain and its cluster. External services of a mesh
// without secrets are left out (the zone has no CA for it yet).
func (t *Translator) TranslateEgress(p *compiler.IngressPlan, secs map[string]*Secrets) (*Resources, error) {
	var ext []*compiler.EgressExternal
	for _, e := range p.External {
		if s := secs[e.Mesh]; s != nil {
			ext = append(ext, e)
		}
	}
	r := newResources(p.NodeID)
	if len(p.Routes)+len(ext) > 0 {
		l, err := sniListener(IngressListenerName, p.Address, p.Port, p.Routes)
		if err != nil {
			return nil, fmt.Errorf("translate egress %s: %w", p.Name, err)
		}
		for _, e := range ext {
			fc, err := egressChain(e)
			if err != nil {
				return nil, fmt.Errorf("translate egress %s: external service %s/%s: %w", p.Name, e.Mesh, e.Service, err)
			}
			l.FilterChains = append(l.FilterChains, fc)
		}
		if err := validate("listener "+l.Name, l); err != nil {
			return nil, fmt.Errorf("translate egress %s: %w", p.Name, err)
		}
		r.add(typeListener, l.Name, hashProto(l), l)
	}
	for _, rt := range p.Routes {
		if err := addPassthrough(r, rt.SNI, rt.Endpoints, nil); err != nil {
			return nil, fmt.Errorf("translate egress %s: %w", p.Name, err)
		}
	}
	meshes := map[string]bool{}
	for _, e := range ext {
		meshes[e.Mesh] = true
		var origin *tlsv3.UpstreamTlsContext
		if e.Target.TLS {
			origin = &tlsv3.UpstreamTlsContext{Sni: e.Target.SNIName()}
		}
		if err := addPassthrough(r, e.SNI, e.Endpoints, origin); err != nil {
			return nil, fmt.Errorf("translate egress %s: external service %s/%s: %w", p.Name, e.Mesh, e.Service, err)
		}
	}
	names := make([]string, 0, len(meshes))
	for m := range meshes {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		s := secs[m]
		id := &tlsv3.Secret{Name: EgressSecretIdentity(m), Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(s.CertPEM), PrivateKey: inlineBytes(s.KeyPEM),
		}}}
		ca := &tlsv3.Secret{Name: EgressSecretCA(m), Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inlineBytes(s.CAPEM),
		}}}
		for _, sec := range []*tlsv3.Secret{id, ca} {
			if err := validate("secret "+sec.Name, sec); err != nil {
				return nil, fmt.Errorf("translate egress %s: %w", p.Name, err)
			}
		}
		r.add(typeSecret, id.Name, hashBytes(s.CertPEM, s.KeyPEM), id)
		r.add(typeSecret, ca.Name, hashBytes(s.CAPEM), ca)
	}
	r.seal()
	return r, nil
}

// addPassthrough adds a TCP cluster (and its endpoints) named name; origin,
// when set, makes the cluster originate TLS.
func addPassthrough(r *Resources, name string, es *compiler.EndpointSet, origin *tlsv3.UpstreamTlsContext) error {
	cl, cla, err := passthroughCluster(name, es)
	if err != nil {
		return err
	}
	if origin != nil {
		ts, err := transportSocket(origin)
		if err != nil {
			return err
		}
		cl.TransportSocket = ts
		if err := validate("cluster "+name, cl); err != nil {
			return err
		}
	}
	r.add(typeCluster, cl.Name, hashProto(cl), cl)
	if cla != nil {
		r.add(typeEndpoint, cla.ClusterName, hashProto(cla), cla)
	}
	return nil
}

// transportSocket wraps a TLS context (upstream or downstream) as Envoy's TLS transport socket.
func transportSocket(ctx proto.Message) (*corev3.TransportSocket, error) {
	a, err := anypb.New(ctx)
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}

// egressChain terminates mesh mTLS for one external service's SNI.
func egressChain(e *compiler.EgressExternal) (*listenerv3.FilterChain, error) {
	var filters []*listenerv3.Filter
	if e.Permissions != nil && e.Permissions.Enforced {
		f, err := typed("envoy.filters.network.rbac", &rbacnetv3.RBAC{StatPrefix: e.SNI, Rules: rbacRules(e.Mesh, e.Permissions)})
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	f, err := typed("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{
		StatPrefix:       e.SNI,
		ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: e.SNI},
	})
	if err != nil {
		return nil, err
	}
	filters = append(filters, f)
	down := &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: EgressSecretIdentity(e.Mesh), SdsConfig: adsSource()}},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
				ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: EgressSecretCA(e.Mesh), SdsConfig: adsSource()},
			},
		},
	}
	ts, err := transportSocket(down)
	if err != nil {
		return nil, err
	}
	return &listenerv3.FilterChain{
		Name:             "external:" + e.SNI,
		FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{e.SNI}, TransportProtocol: "tls"},
		Filters:          filters,
		TransportSocket:  ts,
	}, nil
}

// UpdateEgress translates and publishes a zone egress's configuration with
// its per-mesh identities (secs: mesh → secrets).
func (s *Server) UpdateEgress(ctx context.Context, p *compiler.IngressPlan, secs map[string]*Secrets) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	res, err := s.tr.TranslateEgress(p, secs)
	if err != nil {
		s.metrics.errors.Inc()
		return err
	}
	err = s.publish(p.NodeID, res, flSidecar)
	s.metrics.translate.Observe(time.Since(start).Seconds())
	return err
}
