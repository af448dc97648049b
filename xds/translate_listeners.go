package xds

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshc/meshc/compiler"
)

func typed(name string, m proto.Message) (*listenerv3.Filter, error) {
	a, err := anypb.New(m)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}, nil
}

func routerFilter() (*hcmv3.HttpFilter, error) {
	a, err := anypb.New(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	return &hcmv3.HttpFilter{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}, nil
}

// hcm is an HTTP connection manager with the router filter.
func hcm(stat string, to *timeouts) (*hcmv3.HttpConnectionManager, error) {
	rf, err := routerFilter()
	if err != nil {
		return nil, err
	}
	h := &hcmv3.HttpConnectionManager{StatPrefix: stat, CodecType: hcmv3.HttpConnectionManager_AUTO, HttpFilters: []*hcmv3.HttpFilter{rf}}
	if to != nil {
		if to.idle != nil || to.maxConn != nil {
			h.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: to.idle, MaxConnectionDuration: to.maxConn}
		}
		h.StreamIdleTimeout = to.streamIdle
	}
	return h, nil
}

// timeouts are the connection-level MeshTimeout settings of a listener.
type timeouts struct {
	idle, streamIdle, maxConn, request *durationpb.Duration
}

// outboundListener returns the (shared) listener of one outbound.
func (t *Translator) outboundListener(o *compiler.OutboundPlan) (*listenerv3.Listener, string, error) {
	name := o.Name()
	key := name + "|" + o.Hash
	v, h, err := t.listeners.get(key, func() (*listenerv3.Listener, error) {
		os := o.OutboundService
		var to *timeouts
		if ot := os.Timeout; ot != nil {
			to = &timeouts{idle: dur(ot.IdleTimeout)}
			if ot.HTTP != nil {
				to.streamIdle, to.maxConn = dur(ot.HTTP.StreamIdleTimeout), dur(ot.HTTP.MaxConnectionDuration)
			}
		}
		var f *listenerv3.Filter
		var err error
		if compiler.IsHTTP(os.Protocol) {
			h, herr := hcm(name, to)
			if herr != nil {
				return nil, herr
			}
			h.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: routeName(os), ConfigSource: adsSource()}}
			f, err = typed("envoy.filters.network.http_connection_manager", h)
		} else {
			tp := &tcpv3.TcpProxy{StatPrefix: name}
			setTCPBackends(tp, os.Routes[0].Backends)
			if to != nil && to.idle != nil {
				tp.IdleTimeout = to.idle
			}
			if rt := os.Retry; rt != nil && rt.TCP != nil && rt.TCP.MaxConnectAttempt > 0 {
				tp.MaxConnectAttempts = wrapperspb.UInt32(uint32(rt.TCP.MaxConnectAttempt))
			}
			f, err = typed("envoy.filters.network.tcp_proxy", tp)
		}
		if err != nil {
			return nil, err
		}
		l := &listenerv3.Listener{
			Name:             name,
			Address:          sockAddr(o.Address, o.Port),
			TrafficDirection: corev3.TrafficDirection_OUTBOUND,
			FilterChains:     []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{f}}},
		}
		if o.Kind == compiler.OutboundVIP {
			// A VIP need not be assigned to an interface of the proxy's host.
			l.Freebind = wrapperspb.Bool(true)
		}
		return l, validate("listener "+name, l)
	})
	return v, h, err
}

func setTCPBackends(tp *tcpv3.TcpProxy, bs []compiler.WeightedCluster) {
	if len(bs) == 1 {
		tp.ClusterSpecifier = &tcpv3.TcpProxy_Cluster{Cluster: bs[0].Name}
		return
	}
	wc := &tcpv3.TcpProxy_WeightedCluster{}
	for _, b := range bs {
		wc.Clusters = append(wc.Clusters, &tcpv3.TcpProxy_WeightedCluster_ClusterWeight{Name: b.Name, Weight: uint32(b.Weight)})
	}
	tp.ClusterSpecifier = &tcpv3.TcpProxy_WeightedClusters{WeightedClusters: wc}
}

// inboundListener is one inbound: mTLS requiring a client certificate from the
// mesh CA, the MeshTrafficPermission verdict as network RBAC, then the
// application on 127.0.0.1:<servicePort>. Inbound listeners are per proxy.
func (t *Translator) inboundListener(p *compiler.ProxyPlan, in *compiler.InboundPlan) (*listenerv3.Listener, string, error) {
	name := "inbound:" + in.Address + ":" + itoa(in.Port)
	fc, chainHash, err := t.chains.get(p.Key.Mesh+"|"+strconv.FormatBool(p.MTLS)+"|"+in.Hash, func() (*listenerv3.FilterChain, error) {
		return inboundChain(p, in)
	})
	if err != nil {
		return nil, "", err
	}
	l := &listenerv3.Listener{
		Name:             name,
		Address:          sockAddr(in.Address, in.Port),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		FilterChains:     []*listenerv3.FilterChain{fc},
	}
	// The content is the address plus the (validated, shared) chain.
	return l, hashStrings(name, in.Address, itoa(in.Port), chainHash), validate("listener "+name, l)
}

// inboundChain is an inbound's filter chain; it names no address, so every
// instance of a service with the same inbound settings shares one.
func inboundChain(p *compiler.ProxyPlan, in *compiler.InboundPlan) (*listenerv3.FilterChain, error) {
	name := "inbound_" + itoa(in.Port)
	local := localClusterName(in.ServicePort)
	var filters []*listenerv3.Filter
	enforced := in.Permissions != nil && in.Permissions.Enforced
	// HTTP inbounds enforce permissions per request (a denied client gets
	// 403 "RBAC: access denied"); other protocols per connection.
	if enforced && !compiler.IsHTTP(in.Protocol) {
		f, err := typed("envoy.filters.network.rbac", &rbacnetv3.RBAC{StatPrefix: name, Rules: rbacRules(p.Key.Mesh, in.Permissions)})
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	var to *timeouts
	if it := in.Timeout; it != nil {
		to = &timeouts{idle: dur(it.IdleTimeout)}
		if it.HTTP != nil {
			to.streamIdle, to.maxConn, to.request = dur(it.HTTP.StreamIdleTimeout), dur(it.HTTP.MaxConnectionDuration), dur(it.HTTP.RequestTimeout)
		}
	}
	if compiler.IsHTTP(in.Protocol) {
		h, err := hcm(name, to)
		if err != nil {
			return nil, err
		}
		if p.MTLS {
			// The application sees who called: the client's SPIFFE id in x-forwarded-client-cert.
			h.ForwardClientCertDetails = hcmv3.HttpConnectionManager_SANITIZE_SET
			h.SetCurrentClientCertDetails = &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{Uri: true}
		}
		if enforced {
			a, err := anypb.New(&rbachttpv3.RBAC{Rules: rbacRules(p.Key.Mesh, in.Permissions)})
			if err != nil {
				return nil, err
			}
			h.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "envoy.filters.http.rbac", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}}, h.HttpFilters...)
		}
		act := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: local}}
		if to != nil && to.request != nil {
			act.Timeout = to.request
		}
		h.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: name,
			VirtualHosts: []*routev3.VirtualHost{{Name: in.Service, Domains: []string{"*"}, Routes: []*routev3.Route{{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: act},
			}}}},
		}}
		f, err := typed("envoy.filters.network.http_connection_manager", h)
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	} else {
		tp := &tcpv3.TcpProxy{StatPrefix: name, ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: local}}
		if to != nil && to.idle != nil {
			tp.IdleTimeout = to.idle
		}
		f, err := typed("envoy.filters.network.tcp_proxy", tp)
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	fc := &listenerv3.FilterChain{Filters: filters}
	if p.MTLS {
		ctx := &tlsv3.DownstreamTlsContext{
			RequireClientCertificate: wrapperspb.Bool(true),
			CommonTlsContext: &tlsv3.CommonTlsContext{
				TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: SecretIdentity, SdsConfig: adsSource()}},
				ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
					ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: SecretMeshCA, SdsConfig: adsSource()},
				},
			},
		}
		a, err := anypb.New(ctx)
		if err != nil {
			return nil, err
		}
		fc.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}
	}
	return fc, nil
}

// rbacRules compiles last-match-wins permission rules into one ALLOW policy: a
// client is allowed when some Allow rule matches it and no later Deny rule does.
func rbacRules(mesh string, perm *compiler.Permissions) *rbacv3.RBAC {
	var allowed []*rbacv3.Principal
	for i, r := range perm.Rules {
		if r.Action == compiler.ActionDeny {
			continue
		}
		var laterDeny []*rbacv3.Principal
		for _, d := range perm.Rules[i+1:] {
			if d.Action == compiler.ActionDeny && !disjoint(r.Source, d.Source) {
				laterDeny = append(laterDeny, principal(mesh, d.Source))
			}
		}
		p := principal(mesh, r.Source)
		if len(laterDeny) > 0 {
			p = &rbacv3.Principal{Identifier: &rbacv3.Principal_AndIds{AndIds: &rbacv3.Principal_Set{Ids: []*rbacv3.Principal{
				p, {Identifier: &rbacv3.Principal_NotId{NotId: orPrincipals(laterDeny)}},
			}}}}
		}
		allowed = append(allowed, p)
	}
	rules := &rbacv3.RBAC{Action: rbacv3.RBAC_ALLOW, Policies: map[string]*rbacv3.Policy{}}
	if len(allowed) > 0 {
		rules.Policies["meshtrafficpermission"] = &rbacv3.Policy{
			Permissions: []*rbacv3.Permission{{Rule: &rbacv3.Permission_Any{Any: true}}},
			Principals:  allowed,
		}
	}
	return rules
}

// disjoint reports whether no client can match both sources (different services).
func disjoint(a, b compiler.Source) bool {
	sa, sb := serviceOf(a), serviceOf(b)
	return sa != "" && sb != "" && sa != sb
}

func serviceOf(s compiler.Source) string {
	if s.Service != "" {
		return s.Service
	}
	return s.Tags["kuma.io/service"]
}

func orPrincipals(ps []*rbacv3.Principal) *rbacv3.Principal {
	if len(ps) == 1 {
		return ps[0]
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_OrIds{OrIds: &rbacv3.Principal_Set{Ids: ps}}}
}

func uriPrincipal(uri string) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{
		PrincipalName: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: uri}},
	}}}
}

// principal matches a source by its certificate: the SPIFFE id for the
// service AND a kuma://<tag>/<value> URI SAN for each other tag (the zone
// issues one per inbound tag, pki.IssueWorkload). Envoy's authenticated
// matcher compares every URI SAN of the peer certificate, not only the first.
func principal(mesh string, s compiler.Source) *rbacv3.Principal {
	if s.Any {
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}
	}
	var ids []*rbacv3.Principal
	svc := s.Service
	if v, ok := s.Tags["kuma.io/service"]; ok && svc == "" {
		svc = v
	}
	if svc != "" {
		ids = append(ids, uriPrincipal(compiler.SPIFFE(mesh, svc)))
	}
	for _, k := range sortedTagKeys(s.Tags) {
		if k == "kuma.io/service" {
			continue
		}
		ids = append(ids, uriPrincipal(compiler.TagURI(k, s.Tags[k])))
	}
	if len(ids) == 1 {
		return ids[0]
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_AndIds{AndIds: &rbacv3.Principal_Set{Ids: ids}}}
}
