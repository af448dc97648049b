package zone

import (
	"context"
	"encoding/json"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/xds"
)

// XDSPublisher publishes plans on an xds.Server (the zone's real back end).
type XDSPublisher struct {
	Server *xds.Server
	// Ctx bounds publishing (the zone's lifetime).
	Ctx context.Context
}

// Update translates and publishes plan with the proxy's identity.
func (p XDSPublisher) Update(plan *compiler.ProxyPlan, id *WorkloadIdentity) error {
	var sec *xds.Secrets
	if id != nil {
		sec = &xds.Secrets{CertPEM: id.CertChainPEM, KeyPEM: id.KeyPEM, CAPEM: id.CAPEM}
	}
	return p.Server.Update(p.Ctx, plan, sec)
}

// Status is what the xDS server knows of a node: versions served and ACKed,
// and its last NACK with the reason.
func (p XDSPublisher) Status(nodeID string) (any, bool) {
	st, ok := p.Server.Status(nodeID)
	return st, ok
}

// Remove drops a proxy's snapshots.
func (p XDSPublisher) Remove(k compiler.ProxyKey) { p.Server.Remove(k) }

// Dump renders what the server publishes for nodeID as JSON: the node, its
// status (connection, ACKed versions, last NACK) and every resource by type,
// with private keys redacted.
func (p XDSPublisher) Dump(nodeID string) ([]byte, error) {
	res, err := p.Server.Resources(nodeID)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, fmt.Errorf("no configuration published for node %q yet", nodeID)
	}
	out := map[string]any{"node": nodeID}
	if st, ok := p.Server.Status(nodeID); ok {
		out["status"] = st
	}
	byType := map[string][]json.RawMessage{}
	for _, u := range xds.TypeURLs() {
		items := res.ByType(u)
		for _, n := range res.Names(u) {
			m := redact(items[n])
			b, err := protojson.Marshal(m)
			if err != nil {
				return nil, fmt.Errorf("dump %s %s: %w", nodeID, n, err)
			}
			kind := string(m.ProtoReflect().Descriptor().FullName())
			byType[kind] = append(byType[kind], b)
		}
	}
	out["resources"] = byType
	return json.MarshalIndent(out, "", "  ")
}

// redact replaces a Secret's private key with a marker (never print keys).
func redact(m proto.Message) proto.Message {
	s, ok := m.(*tlsv3.Secret)
	if !ok || s.GetTlsCertificate() == nil {
		return m
	}
	c := proto.Clone(s).(*tlsv3.Secret)
	c.GetTlsCertificate().PrivateKey = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "[redacted]"}}
	return c
}
