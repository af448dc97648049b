package xds

import (
	"time"
)

// Secrets are a proxy's mTLS material, PEM encoded, issued by the caller
// (the zone agent, from pki): the workload certificate chain and key carrying
// the SPIFFE id(s) of the proxy's services, and the mesh CA that validates peers.
// Nil for a mesh without mTLS.
type Secrets struct {
	CertPEM []byte
	KeyPEM  []byte
	CAPEM   []byte
}

// SDS secret names the generated config refers to.
const (
	SecretIdentity = "identity_cert"
	SecretMeshCA   = "mesh_ca"
)

// Options tune one translation.
type Options struct {
	// Proxyless translates for a proxyless gRPC client: one api_listener per
	// outbound host (`backend.mesh`), RDS routes, EDS clusters, no socket
	// listeners. The server sets it for nodes whose metadata says proxyless: true.
	Proxyless bool
}

// NACK is a configuration a proxy rejected.
type NACK struct {
	Node    string    `json:"node"`
	TypeURL string    `json:"typeUrl"`
	Version string    `json:"version"` // the rejected version
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// NodeStatus is what the server knows about one node.
type NodeStatus struct {
	Node           string    `json:"node"`
	Connected      bool      `json:"connected"`
	Proxyless      bool      `json:"proxyless,omitempty"`
	LastConnect    time.Time `json:"lastConnect,omitempty"`
	LastDisconnect time.Time `json:"lastDisconnect,omitempty"`
	// Version is the snapshot version the server publishes for the node;
	// Acked maps type URL → last version the node accepted.
	Version string            `json:"version,omitempty"`
	Served  map[string]string `json:"served,omitempty"` // type URL → version published
	Acked   map[string]string `json:"acked,omitempty"`
	// LastNACK is the node's most recent rejection, nil when none since the last ACK.
	LastNACK *NACK `json:"lastNack,omitempty"`
}
