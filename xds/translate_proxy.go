package xds

import (
	"fmt"
	"sort"
	"weak"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshc/meshc/compiler"
)

// sidecar translates a plan for an Envoy sidecar. The VIP outbounds come as
// shared base layers (translated once per VIP set); the proxy's own layer
// holds its inbounds, local clusters and explicit outbounds.
func (t *Translator) sidecar(p *compiler.ProxyPlan, r *Resources) error {
	if p.VIPSet != nil {
		v, err := t.vipLayers(p.VIPSet)
		if err != nil {
			return err
		}
		r.base, r.baseRefs, r.vip = v.layers, v.routeRefs, v
	}
	for _, in := range p.Inbounds {
		l, h, err := t.inboundListener(p, in)
		if err != nil {
			return err
		}
		r.add(typeListener, l.Name, h, l)
		lc, key, err := t.localCluster(in.ServicePort, in.Protocol)
		if err != nil {
			return err
		}
		if _, dup := r.get(typeCluster, lc.Name); !dup {
			r.add(typeCluster, lc.Name, key, lc)
		}
	}
	explicit := p.Outbounds
	if p.VIPSet != nil {
		explicit = p.Outbounds[:len(p.Outbounds)-len(p.VIPSet.Outbounds)]
	}
	if err := t.addOutbounds(r, explicit); err != nil {
		return err
	}
	return t.addClusters(p, r, false)
}

// addOutbounds adds outbound listeners and their routes.
func (t *Translator) addOutbounds(r *Resources, outs []*compiler.OutboundPlan) error {
	for _, o := range outs {
		name := o.Name()
		if _, dup := r.get(typeListener, name); dup {
			return fmt.Errorf("two outbounds listen on %s:%d", o.Address, o.Port)
		}
		l, key, err := t.outboundListener(o)
		if err != nil {
			return err
		}
		r.add(typeListener, name, key, l)
		if compiler.IsHTTP(o.Protocol) {
			rc, key, err := t.routeConfig(o.OutboundService, false)
			if err != nil {
				return err
			}
			r.add(typeRoute, rc.Name, key, rc)
			r.routeRefs[rc.Name] = true
		}
	}
	return nil
}

// vipSetLayers are a VIP set's translated listeners, routes, clusters and endpoints.
type vipSetLayers struct {
	layers    [numTypes]*layer
	routeRefs map[string]bool
}

// vipLayers returns the (shared) translation of a VIP set.
func (t *Translator) vipLayers(set *compiler.OutboundSet) (*vipSetLayers, error) {
	t.vipMu.Lock()
	if t.vips == nil {
		t.vips = map[string]weak.Pointer[vipSetLayers]{}
	}
	if wp, ok := t.vips[set.Hash]; ok {
		if v := wp.Value(); v != nil {
			t.vipMu.Unlock()
			return v, nil
		}
		delete(t.vips, set.Hash)
	}
	t.vipMu.Unlock()
	r := newResources("vip-set")
	if err := t.addOutbounds(r, set.Outbounds); err != nil {
		return nil, fmt.Errorf("VIP outbounds: %w", err)
	}
	if err := t.addClusters(&compiler.ProxyPlan{Clusters: set.Clusters}, r, false); err != nil {
		return nil, fmt.Errorf("VIP outbounds: %w", err)
	}
	r.seal()
	if err := r.checkRefs(); err != nil {
		return nil, fmt.Errorf("VIP outbounds: %w", err)
	}
	v := &vipSetLayers{routeRefs: r.routeRefs}
	for i := range v.layers {
		v.layers[i] = r.own[i]
	}
	t.vipMu.Lock()
	t.vips[set.Hash] = weak.Make(v)
	t.vipMu.Unlock()
	return v, nil
}

func (t *Translator) addClusters(p *compiler.ProxyPlan, r *Resources, proxyless bool) error {
	if vs := p.VIPSet; vs != nil && r.base[typeCluster] != nil && len(p.Clusters) == len(vs.Clusters) &&
		(len(vs.Clusters) == 0 || &p.Clusters[0] == &vs.Clusters[0]) {
		return nil // exactly the VIP set's clusters: all in the shared base layer
	}
	for _, c := range p.Clusters {
		if p.VIPSet != nil && p.VIPSet.Cluster(c.Name) == c && r.base[typeCluster] != nil {
			continue // in the shared base layer
		}
		if _, dup := r.own[typeCluster].items[c.Name]; dup {
			return fmt.Errorf("cluster name %q is used twice (an inbound's local cluster and a service?)", c.Name)
		}
		cl, key, err := t.cluster(c, proxyless)
		if err != nil {
			return err
		}
		r.add(typeCluster, c.Name, key, cl)
		if cl.GetType() == clusterv3.Cluster_EDS {
			cla, key, err := t.endpoints(c, proxyless)
			if err != nil {
				return err
			}
			r.add(typeEndpoint, c.Name, key, cla)
		}
	}
	return nil
}

// proxyless translates a plan for a proxyless gRPC client: for every outbound
// host (`backend.mesh`, the name in `xds:///backend.mesh`) a listener with only
// an api_listener whose HTTP connection manager takes its routes over RDS.
func (t *Translator) proxyless(p *compiler.ProxyPlan, r *Resources) error {
	for _, o := range p.Outbounds {
		os := o.OutboundService
		hosts := os.Hosts
		if o.Host != "" {
			hosts = append([]string{o.Host}, hosts...)
		}
		rc, rkey, err := t.routeConfig(os, true)
		if err != nil {
			return err
		}
		r.add(typeRoute, rc.Name, rkey, rc)
		for _, h := range hosts {
			if _, dup := r.get(typeListener, h); dup {
				continue
			}
			l, key, err := t.apiListener(h, rc.Name)
			if err != nil {
				return err
			}
			r.add(typeListener, h, key, l)
		}
	}
	return t.addClusters(p, r, true)
}

func (t *Translator) apiListener(host, route string) (*listenerv3.Listener, string, error) {
	key := "api|" + host + "|" + route
	v, h, err := t.listeners.get(key, func() (*listenerv3.Listener, error) {
		h, err := hcm(host, nil)
		if err != nil {
			return nil, err
		}
		h.CodecType = hcmv3.HttpConnectionManager_AUTO
		h.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: route, ConfigSource: adsSource()}}
		a, err := anypb.New(h)
		if err != nil {
			return nil, err
		}
		l := &listenerv3.Listener{Name: host, ApiListener: &listenerv3.ApiListener{ApiListener: a}}
		return l, validate("listener "+host, l)
	})
	return v, h, err
}

// checkProxylessRefs does for proxyless snapshots what Consistent() cannot:
// every route an api_listener names and every cluster a route names exists, and
// the endpoints are exactly those of the EDS clusters.
func (r *Resources) checkProxylessRefs() error {
	for name, res := range r.items(typeListener) {
		l := res.(*listenerv3.Listener)
		h := &hcmv3.HttpConnectionManager{}
		if err := l.GetApiListener().GetApiListener().UnmarshalTo(h); err != nil {
			return fmt.Errorf("listener %s: %w", name, err)
		}
		rn := h.GetRds().GetRouteConfigName()
		rcRes, _ := r.get(typeRoute, rn)
		rc, ok := rcRes.(*routev3.RouteConfiguration)
		if !ok {
			return fmt.Errorf("listener %s names route %q, which is not in the snapshot", name, rn)
		}
		for _, vh := range rc.VirtualHosts {
			for _, rt := range vh.Routes {
				names := []string{rt.GetRoute().GetCluster()}
				for _, w := range rt.GetRoute().GetWeightedClusters().GetClusters() {
					names = append(names, w.Name)
				}
				for _, c := range names {
					if _, ok := r.get(typeCluster, c); c != "" && !ok {
						return fmt.Errorf("route %s names cluster %q, which is not in the snapshot", rn, c)
					}
				}
			}
		}
	}
	eds := 0
	for name, res := range r.items(typeCluster) {
		if res.(*clusterv3.Cluster).GetType() == clusterv3.Cluster_EDS {
			eds++
			if _, ok := r.get(typeEndpoint, name); !ok {
				return fmt.Errorf("cluster %s has no endpoints in the snapshot", name)
			}
		}
	}
	if n := r.count(typeEndpoint); eds != n {
		return fmt.Errorf("%d endpoint assignments for %d EDS clusters", n, eds)
	}
	return nil
}

// addSecrets adds the proxy's identity certificate and the mesh CA (shared).
func (t *Translator) addSecrets(r *Resources, sec *Secrets) error {
	id := &tlsv3.Secret{Name: SecretIdentity, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: inlineBytes(sec.CertPEM),
		PrivateKey:       inlineBytes(sec.KeyPEM),
	}}}
	if err := validate("secret "+SecretIdentity, id); err != nil {
		return err
	}
	r.add(typeSecret, SecretIdentity, hashBytes(sec.CertPEM, sec.KeyPEM), id)
	caKey := hashBytes(sec.CAPEM)
	ca, caHash, err := t.secrets.get(caKey, func() (*tlsv3.Secret, error) {
		s := &tlsv3.Secret{Name: SecretMeshCA, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inlineBytes(sec.CAPEM),
		}}}
		return s, validate("secret "+SecretMeshCA, s)
	})
	if err != nil {
		return err
	}
	r.add(typeSecret, SecretMeshCA, caHash, ca)
	return nil
}

func sortedTagKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
