package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"sort"
	"strings"
)

// hashBytes is the first 16 hex digits of SHA-256 of b.
func hashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// hashStrings hashes a list of strings (each terminated, so ["ab","c"] ≠ ["a","bc"]).
func hashStrings(ss ...string) string {
	h := sha256.New()
	for _, s := range ss {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

var sniUnsafe = regexp.MustCompile(`[^a-z0-9-]`)

// SubsetHash is the <h8> of DESIGN.md §4: the first 8 hex digits of SHA-256
// over the exact service name and, for a subset, its sorted tags.
func SubsetHash(service string, tags map[string]string) string {
	h := sha256.New()
	h.Write([]byte(service))
	for _, k := range sortedKeys(tags) {
		if k == "kuma.io/service" {
			continue
		}
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{'='})
		h.Write([]byte(tags[k]))
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// SNI returns `<svc>.<h8>.<mesh>.mesh` for a service or a subset of it.
func SNI(mesh, service string, tags map[string]string) string {
	return sniUnsafe.ReplaceAllString(strings.ToLower(service), "-") + "." + SubsetHash(service, tags) + "." + mesh + ".mesh"
}

// ClusterName returns the deterministic cluster name: the service name for the
// whole service, `<service>~<h8>` for a subset.
func ClusterName(service string, tags map[string]string) string {
	if len(subsetTags(tags)) == 0 {
		return service
	}
	return service + "~" + SubsetHash(service, tags)
}

// subsetTags returns tags without kuma.io/service (nil when empty).
func subsetTags(tags map[string]string) map[string]string {
	var out map[string]string
	for k, v := range tags {
		if k == "kuma.io/service" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// canonTags is a stable string form of tags.
func canonTags(tags map[string]string) string {
	ks := sortedKeys(tags)
	var b strings.Builder
	for _, k := range ks {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(tags[k])
		b.WriteByte(';')
	}
	return b.String()
}

func sortStrings(ss []string) []string { sort.Strings(ss); return ss }
