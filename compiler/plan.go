package compiler

import (
	"sort"
	"strconv"
	"strings"

	"github.com/meshc/meshc/schema"
)

// This file holds the per-proxy plan: what one proxy (a Dataplane) must do,
// with no Envoy types. The xds back end translates a ProxyPlan to Envoy
// resources; `meshc diff` compares plans. Build plans with a Planner (plan_planner.go),
// which recomputes only the proxies a change touches and shares identical
// parts (clusters, endpoint sets, outbound services) between proxies.
//
// Shared parts are pointers held by many plans: treat every plan as read-only.

// Protocols a service can speak (tag kuma.io/protocol). Anything else is tcp.
const (
	ProtocolTCP   = "tcp"
	ProtocolHTTP  = "http"
	ProtocolHTTP2 = "http2"
	ProtocolGRPC  = "grpc"
)

// IsHTTP reports whether protocol p is carried by an HTTP connection manager.
func IsHTTP(p string) bool { return p == ProtocolHTTP || p == ProtocolHTTP2 || p == ProtocolGRPC }

// Permission actions (MeshTrafficPermission `default.action`).
const (
	ActionAllow               = "Allow"
	ActionDeny                = "Deny"
	ActionAllowWithShadowDeny = "AllowWithShadowDeny"
)

// Outbound kinds.
const (
	OutboundExplicit = "explicit" // listed in the Dataplane's networking.outbound
	OutboundVIP      = "vip"      // a service's VIP or a VirtualOutbound (issue 7, dns)
)

// ProxyKey names a proxy: its mesh and Dataplane name. String() is the xDS node id.
type ProxyKey struct {
	Mesh string `json:"mesh"`
	Name string `json:"name"`
}

// String returns the xDS node id `<mesh>.<name>`.
func (k ProxyKey) String() string { return k.Mesh + "." + k.Name }

// ParseNodeID splits an xDS node id `<mesh>.<name>` (mesh names hold no dots).
func ParseNodeID(id string) (ProxyKey, bool) {
	i := strings.IndexByte(id, '.')
	if i <= 0 || i == len(id)-1 {
		return ProxyKey{}, false
	}
	return ProxyKey{Mesh: id[:i], Name: id[i+1:]}, true
}

// PlanInput is everything a zone knows that shapes its proxies' configuration.
type PlanInput struct {
	// Bundle is the last-known-good bundle from the global (or a standalone dir).
	Bundle *Bundle
	// Zone is this zone's name; it is the locality of local endpoints.
	Zone string
	// Dataplanes registered in this zone (type Dataplane); every inbound's tags
	// already carry kuma.io/zone.
	Dataplanes []schema.Resource
	// ZoneIngresses of other zones (type ZoneIngress, with availableServices and
	// spec.zone set). An ingress of this zone is ignored.
	ZoneIngresses []schema.Resource
	// VIPs are the VIP outbound listeners of each mesh's proxies (issue 7,
	// from package dns): mesh → listeners. May be nil.
	VIPs map[string][]VIPListener
}

// VIPListener is one VIP outbound every proxy of a mesh gets: it accepts on
// Address:Port and forwards to Service (to the subset carrying Tags when set,
// e.g. a VirtualOutbound). Host is the DNS name the address answers for.
type VIPListener struct {
	Address string            `json:"address"`
	Port    int               `json:"port"`
	Service string            `json:"service"`
	Tags    map[string]string `json:"tags,omitempty"`
	Host    string            `json:"host,omitempty"`
}

// ProxyPlan is the configuration of one proxy.
type ProxyPlan struct {
	Key  ProxyKey `json:"key"`
	Zone string   `json:"zone"`
	// Address is where other proxies reach this one (advertisedAddress or address).
	Address string `json:"address"`
	// MTLS is true when the mesh has mTLS enabled: inbounds require client
	// certificates, clusters present the proxy's certificate.
	MTLS bool `json:"mtls"`
	// Identities are the SPIFFE ids (spiffe://<mesh>/<service>) of the proxy's
	// inbound services, sorted; the certificate the zone issues carries them.
	Identities []string `json:"identities,omitempty"`
	// Services are the kuma.io/service values of the inbounds, sorted.
	Services []string       `json:"services,omitempty"`
	Inbounds []*InboundPlan `json:"inbounds,omitempty"`
	// Outbounds are the explicit outbounds followed by the VIP outbounds
	// (those of VIPSet, shared).
	Outbounds []*OutboundPlan `json:"outbounds,omitempty"`
	// VIPSet is the mesh's VIP outbounds as this proxy's policies shape them,
	// shared by every proxy with the same policies (nil without VIPs). Back
	// ends translate it once and share the result.
	VIPSet *OutboundSet `json:"-"`
	// Clusters are every cluster an outbound's routes refer to, sorted by name.
	Clusters []*ClusterPlan `json:"clusters,omitempty"`
	// Hash is a content hash of the whole plan: equal hashes, equal config.
	Hash string `json:"hash"`
	// Warnings are problems that left part of the plan out (e.g. an outbound
	// to an unknown service); the rest of the plan is valid.
	Warnings []string `json:"warnings,omitempty"`
}

// OutboundSet is a shared group of outbounds (a mesh's VIP outbounds) with
// the clusters they use (sorted by name) and a content hash.
type OutboundSet struct {
	Outbounds []*OutboundPlan
	Clusters  []*ClusterPlan
	Hash      string
	byName    map[string]*ClusterPlan
}

// Cluster returns the set's cluster named name, or nil.
func (s *OutboundSet) Cluster(name string) *ClusterPlan { return s.byName[name] }

// InboundPlan is one port the proxy serves for its application.
type InboundPlan struct {
	// Port is where the proxy listens (on Address); ServicePort is the
	// application's port on 127.0.0.1 (equals Port when not given).
	Address     string            `json:"address"`
	Port        int               `json:"port"`
	ServicePort int               `json:"servicePort"`
	Service     string            `json:"service"`
	Protocol    string            `json:"protocol"`
	Tags        map[string]string `json:"tags"`
	// Permissions is the MeshTrafficPermission verdict for this inbound.
	Permissions *Permissions `json:"permissions"`
	// Timeout is the merged MeshTimeout `from` default (nil: none).
	Timeout *schema.TimeoutConf `json:"timeout,omitempty"`
	// Hash identifies everything but the address: instances of a service
	// with equal hashes get the same inbound filter chain.
	Hash string `json:"hash"`
}

// Permissions are the resolved MeshTrafficPermission rules of one inbound.
// A source's verdict is the action of the LAST rule matching it (rules are in
// merge order: policy specificity, policy name, from-item order); when none
// matches, the source is denied. When Enforced is false (mesh without mTLS:
// there is no identity to check) every source is allowed.
type Permissions struct {
	Enforced bool             `json:"enforced"`
	Rules    []PermissionRule `json:"rules,omitempty"`
}

// PermissionRule is one `from` entry of a MeshTrafficPermission.
type PermissionRule struct {
	Source Source `json:"source"`
	Action string `json:"action"`
	Policy string `json:"policy"`
}

// Source selects client proxies by identity: Any (targetRef Mesh), or a service
// and/or tags. A source's service is proven by its SPIFFE id
// spiffe://<mesh>/<service>; other tags by URI SANs kuma://<tag>/<value>.
type Source struct {
	Any     bool              `json:"any,omitempty"`
	Service string            `json:"service,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// SPIFFE returns the SPIFFE id of a service in a mesh.
func SPIFFE(mesh, service string) string { return "spiffe://" + mesh + "/" + service }

// TagURI returns the URI SAN that proves a tag: kuma://<key>/<value>.
func TagURI(key, value string) string { return "kuma://" + key + "/" + value }

// Matches reports whether a client with service svc and tags matches s.
func (s Source) Matches(svc string, tags map[string]string) bool {
	if s.Any {
		return true
	}
	if s.Service != "" && s.Service != svc {
		return false
	}
	for k, v := range s.Tags {
		if k == schema.TagService {
			if v != svc {
				return false
			}
			continue
		}
		if tags[k] != v {
			return false
		}
	}
	return true
}

// Verdict returns whether a client (service, tags) may connect, and the policy
// that decided ("" when no rule matched or permissions are not enforced).
func (p *Permissions) Verdict(svc string, tags map[string]string) (allow bool, policy string) {
	if p == nil || !p.Enforced {
		return true, ""
	}
	for i := len(p.Rules) - 1; i >= 0; i-- {
		r := p.Rules[i]
		if r.Source.Matches(svc, tags) {
			return r.Action != ActionDeny, r.Policy
		}
	}
	return false, ""
}

// OutboundPlan is one local listener that forwards to a service.
type OutboundPlan struct {
	Kind    string `json:"kind"` // OutboundExplicit | OutboundVIP
	Address string `json:"address"`
	Port    int    `json:"port"`
	// Host is the DNS name of a VIP outbound ("" for explicit ones).
	Host string `json:"host,omitempty"`
	// OutboundService is the destination: its routes and resolved policies.
	*OutboundService
}

// Name is a stable name for the outbound's listener: outbound:<address>:<port>.
func (o *OutboundPlan) Name() string {
	return "outbound:" + o.Address + ":" + strconv.Itoa(o.Port)
}

// OutboundService is what a proxy does with traffic to one service: routes and
// resolved policies. Shared by every outbound (and every proxy with the same
// matching policies) that targets the service.
type OutboundService struct {
	Service string `json:"service"`
	// Subset restricts the default route to instances with these tags (a
	// VirtualOutbound subset); nil for the whole service.
	Subset   map[string]string `json:"subset,omitempty"`
	Protocol string            `json:"protocol"`
	// Hosts are the names a client may use for the service (HTTP virtual host
	// domains, proxyless listener names): <service>.mesh and its RFC 1123 form.
	Hosts []string `json:"hosts"`
	// Routes in match order (first match wins). TCP services have exactly one
	// route with no matches. HTTP services always end with a catch-all route.
	Routes []*RoutePlan `json:"routes"`
	// Timeout and Retry are the merged MeshTimeout / MeshRetry `to` defaults (nil: none).
	Timeout *schema.TimeoutConf `json:"timeout,omitempty"`
	Retry   *schema.RetryConf   `json:"retry,omitempty"`
	// Hash identifies the content (routes, policies, referenced clusters' hashes).
	Hash string `json:"hash"`
	// Clusters are the clusters the routes refer to, sorted by name.
	Clusters []*ClusterPlan `json:"-"`
}

// RoutePlan is one route: when Match holds (nil: every request), apply Filters
// and split across Backends by weight. A MeshHTTPRoute rule with several
// matches becomes several routes.
type RoutePlan struct {
	Match    *schema.HTTPMatch   `json:"match,omitempty"`
	Filters  []schema.HTTPFilter `json:"filters,omitempty"`
	Backends []WeightedCluster   `json:"backends"`
	// Mirror copies a share of the requests to another cluster (RequestMirror filter).
	Mirror *Mirror `json:"mirror,omitempty"`
	// Policy is the MeshHTTPRoute/MeshTCPRoute the rule came from ("" for the default route).
	Policy string `json:"policy,omitempty"`
}

// Mirror is a RequestMirror filter resolved to a cluster.
type Mirror struct {
	Cluster *ClusterPlan `json:"-"`
	Name    string       `json:"cluster"`
	// Percent of requests mirrored (0–100; 100 when the filter leaves it out).
	Percent float64 `json:"percent"`
}

// IsRedirect reports whether the route answers with a redirect (RequestRedirect filter).
func (r *RoutePlan) IsRedirect() bool {
	for _, f := range r.Filters {
		if f.Type == "RequestRedirect" {
			return true
		}
	}
	return false
}

// WeightedCluster is one arm of a traffic split.
type WeightedCluster struct {
	Cluster *ClusterPlan `json:"-"`
	Name    string       `json:"cluster"`
	Weight  int          `json:"weight"`
}

// ClusterPlan is an upstream: a service, or a subset of it by tags.
type ClusterPlan struct {
	// Name is deterministic: the service name for the whole service,
	// `<service>~<h8>` for a subset (h8 as in the SNI).
	Name    string            `json:"name"`
	Mesh    string            `json:"mesh"`
	Service string            `json:"service"`
	Tags    map[string]string `json:"tags,omitempty"` // subset tags (never kuma.io/service)
	// SNI is `<svc>.<h8>.<mesh>.mesh` (DESIGN.md §4).
	SNI string `json:"sni"`
	// MTLS: present the proxy's certificate and require the server's SPIFFE id.
	MTLS     bool   `json:"mtls"`
	SPIFFE   string `json:"spiffe"`
	Protocol string `json:"protocol"`
	// Resolved policies for this destination (nil: none).
	Timeout        *schema.TimeoutConf        `json:"timeout,omitempty"`
	CircuitBreaker *schema.CircuitBreakerConf `json:"circuitBreaker,omitempty"`
	HealthCheck    *schema.HealthCheckConf    `json:"healthCheck,omitempty"`
	LoadBalancing  *schema.LoadBalancingConf  `json:"loadBalancing,omitempty"`
	// LocalityAware: local endpoints are priority 0, remote zones priority 1.
	LocalityAware bool `json:"localityAware"`
	// External is set for an ExternalService (compiler/external.go): with
	// External.ViaEgress the cluster is mesh mTLS to the zone egress;
	// otherwise it goes to the address itself (MTLS false), with TLS
	// origination when External.TLS.
	External  *ExternalTarget `json:"external,omitempty"`
	Endpoints *EndpointSet    `json:"endpoints"`
	// Hash identifies the content including endpoints.
	Hash string `json:"hash"`
	// ConfigHash identifies the content excluding endpoints (the Envoy Cluster).
	ConfigHash string `json:"configHash"`
}

// EndpointSet is the endpoints of one cluster, sorted (priority, locality, address, port).
type EndpointSet struct {
	Endpoints []Endpoint `json:"endpoints"`
	// Hostnames is true when some address is a DNS name (an ingress
	// advertised by name), not an IP.
	Hostnames bool   `json:"hostnames,omitempty"`
	Hash      string `json:"hash"`
}

// Endpoint is one instance (local) or one remote zone's ingress.
type Endpoint struct {
	Address string `json:"address"`
	Port    int    `json:"port"`
	// Weight: 1 per local instance; a remote zone's ingress weighs its instance count.
	Weight int `json:"weight"`
	// Locality is the zone the endpoint is in.
	Locality string `json:"locality"`
	// Priority 0 for local (and for everything without locality awareness), 1 for remote.
	Priority int `json:"priority"`
	// Ingress marks a remote zone's ingress endpoint.
	Ingress bool `json:"ingress,omitempty"`
}

// ServiceHosts returns the DNS names of a service: <service>.mesh and, when
// different, the RFC 1123 form with `_` replaced by `.`.
func ServiceHosts(service string) []string {
	hs := []string{service + ".mesh"}
	if alt := strings.ReplaceAll(service, "_", ".") + ".mesh"; alt != hs[0] {
		hs = append(hs, alt)
	}
	return hs
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
