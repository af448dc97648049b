package compiler

import "strings"

// MeshDomain is the DNS zone every mesh name lives under.
const MeshDomain = "mesh"

// ServiceDNSNames returns the names (lowercase, no trailing dot) under which a
// service's VIP answers: "<service>.mesh" and, when the service name holds '_'
// (Kubernetes-style "echo-server_echo-example_svc_1010"), the RFC 1123 form with
// every '_' replaced by '.' ("echo-server.echo-example.svc.1010.mesh").
// A form that is not a valid DNS name (labels of 1–63 characters out of
// [a-z0-9_-], 253 characters in all) is left out, so a service whose name cannot
// be written in DNS gets no names — it still gets a VIP for port mapping.
func ServiceDNSNames(service string) []string {
	s := strings.ToLower(service)
	var out []string
	if n := s + "." + MeshDomain; ValidDNSName(n) {
		out = append(out, n)
	}
	if strings.Contains(s, "_") {
		if n := strings.ReplaceAll(s, "_", ".") + "." + MeshDomain; ValidDNSName(n) {
			out = append(out, n)
		}
	}
	return out
}

// ValidDNSName reports whether n (no trailing dot) is a name meshc serves:
// dot-separated labels of 1–63 characters out of [A-Za-z0-9_-], none starting or
// ending with '-', at most 253 characters.
func ValidDNSName(n string) bool {
	if n == "" || len(n) > 253 {
		return false
	}
	for _, l := range strings.Split(n, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// InMeshDomain reports whether the name n (no trailing dot, any case) is under ".mesh".
func InMeshDomain(n string) bool {
	n = strings.ToLower(n)
	return n == MeshDomain || strings.HasSuffix(n, "."+MeshDomain)
}
