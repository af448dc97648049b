package xds

import (
	"fmt"
	"strconv"
	"sync"
	"weak"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshc/meshc/compiler"
)

// Translator turns plans into Envoy resources. It shares identical protos
// between proxies (keyed by content hash); it is safe for concurrent use.
// Generated protos are shared: never modify one.
type Translator struct {
	clusters  shared[clusterv3.Cluster]
	cla       shared[endpointv3.ClusterLoadAssignment]
	routes    shared[routev3.RouteConfiguration]
	listeners shared[listenerv3.Listener]
	secrets   shared[tlsv3.Secret]
	chains    shared[listenerv3.FilterChain]

	vipMu sync.Mutex
	vips  map[string]weak.Pointer[vipSetLayers] // by VIP set hash
}

// NewTranslator returns a translator with empty share caches.
func NewTranslator() *Translator { return &Translator{} }

// Resource type indexes of Resources.
const (
	typeListener = iota
	typeRoute
	typeCluster
	typeEndpoint
	typeSecret
	numTypes
)

var typeURLs = [numTypes]string{
	resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType,
}

// Translate builds proxy p's resources. sec may be nil when the mesh has no mTLS.
func (t *Translator) Translate(p *compiler.ProxyPlan, sec *Secrets, opts Options) (*Resources, error) {
	if p.MTLS && !opts.Proxyless && (sec == nil || len(sec.CertPEM) == 0 || len(sec.KeyPEM) == 0 || len(sec.CAPEM) == 0) {
		return nil, fmt.Errorf("translate %s: mesh %q has mTLS but no certificate, key and CA were supplied", p.Key, p.Key.Mesh)
	}
	r := newResources(p.Key.String())
	r.Proxyless = opts.Proxyless
	var err error
	if opts.Proxyless {
		err = t.proxyless(p, r)
	} else {
		err = t.sidecar(p, r)
	}
	if err != nil {
		return nil, fmt.Errorf("translate %s: %w", p.Key, err)
	}
	if p.MTLS && !opts.Proxyless {
		if err := t.addSecrets(r, sec); err != nil {
			return nil, fmt.Errorf("translate %s: %w", p.Key, err)
		}
	}
	r.seal()
	return r, nil
}

// validate runs the proto's generated validation.
func validate(name string, v interface{ Validate() error }) error {
	if err := v.Validate(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }
