// Package compiler is the middle of the meshc compiler: pure functions with no
// I/O and no Envoy types. Compile turns validated resources into a Bundle
// (semantic checks, normalization, a deterministic version); Plan turns a
// Bundle plus live dataplanes into one plan per proxy; Diff compares them.
package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/meshc/meshc/schema"
)

// Bundle is the normalized, sorted set of global resources of one commit.
// Version is a content hash: the same resources give the same version on any
// machine, whatever commit, file layout or source format they came from.
type Bundle struct {
	Version   string            `json:"version"`
	Commit    string            `json:"commit,omitempty"`
	Resources []schema.Resource `json:"resources"`
}

// Find returns the resource with key k, or nil.
func (b *Bundle) Find(k schema.Key) *schema.Resource {
	for i := range b.Resources {
		if b.Resources[i].Key() == k {
			return &b.Resources[i]
		}
	}
	return nil
}

// OfType returns the bundle's resources of type t (in bundle order).
func (b *Bundle) OfType(t string) []*schema.Resource {
	var out []*schema.Resource
	for i := range b.Resources {
		if b.Resources[i].Type == t {
			out = append(out, &b.Resources[i])
		}
	}
	return out
}

// contentVersion hashes the canonical JSON of sorted resources.
func contentVersion(rs []schema.Resource) (string, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for i := range rs {
		if err := enc.Encode(rs[i]); err != nil {
			return "", fmt.Errorf("hash %s: %w", rs[i].Key(), err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
