package compiler

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/meshc/meshc/schema"
)

// checkMesh checks a Mesh's mTLS backends and routing switches.
func (c *checker) checkMesh(r *schema.Resource) {
	ms := r.MeshSpec()
	if ms == nil {
		c.errorf(r, "", "Mesh %q has no body", r.Name)
		return
	}
	if m := ms.MTLS; m != nil {
		first := map[string]int{}
		for i, b := range m.Backends {
			p := fmt.Sprintf("mtls.backends[%d]", i)
			if j, dup := first[b.Name]; dup {
				c.errorf(r, p+".name", "duplicate mTLS backend %q: also mtls.backends[%d] (%s); backend names must be unique", b.Name, j, r.Source.At(fmt.Sprintf("mtls.backends[%d].name", j)))
			} else {
				first[b.Name] = i
			}
			ca := b.Conf.CACert
			if ca.RSABits != 0 && ca.ECDSA {
				c.errorf(r, p+".conf.caCert", "sets both RSAbits and ECDSA: choose one key type")
			}
			if b.DPCert != nil && ca.Expiration.Duration > 0 && b.DPCert.Rotation.Expiration.Duration > ca.Expiration.Duration {
				c.errorf(r, p+".dpCert.rotation.expiration", "workload certificates (%s) would outlive their CA (%s); shorten dpCert.rotation.expiration or lengthen conf.caCert.expiration", b.DPCert.Rotation.Expiration, ca.Expiration)
			}
		}
		if m.EnabledBackend != "" {
			if _, ok := first[m.EnabledBackend]; !ok {
				names := make([]string, 0, len(m.Backends))
				for _, b := range m.Backends {
					names = append(names, b.Name)
				}
				hint := "no backends are declared; add one under mtls.backends"
				if len(names) > 0 {
					hint = "declared backends: " + strings.Join(names, ", ")
				}
				c.errorf(r, "mtls.enabledBackend", "%q names no backend: %s", m.EnabledBackend, hint)
			}
		}
	}
	if ms.Routing.ZoneEgress && !ms.MTLS.Enabled() {
		c.errorf(r, "routing.zoneEgress", "zone egress needs mTLS: the egress identifies callers by their certificate; set mtls.enabledBackend")
	}
	if cidr := ms.Networking.VIPCIDR; cidr != "" {
		pfx, err := netip.ParsePrefix(cidr)
		switch {
		case err != nil:
			c.errorf(r, "networking.vipCIDR", "%q is not a CIDR (e.g. 240.0.0.0/4)", cidr)
		case !pfx.Addr().Is4():
			c.errorf(r, "networking.vipCIDR", "%q must be IPv4 (VIPs are served as A records)", cidr)
		case pfx.Bits() > 30:
			c.errorf(r, "networking.vipCIDR", "%q holds too few addresses for service VIPs; use a /30 or larger", cidr)
		}
	}
}

var templateErrPrefix = regexp.MustCompile(`^template: [^:]*:[0-9]+:([0-9]+:)? *`)

// identRE is what a text/template field name can be ({{.name}}).
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkVirtualOutbound checks selectors, parameters and that host and port
// are templates that parse and use only declared parameters.
func (c *checker) checkVirtualOutbound(r *schema.Resource) {
	vo := r.VirtualOutboundSpec()
	if vo == nil {
		c.errorf(r, "", "VirtualOutbound %q has no body", r.Name)
		return
	}
	if len(vo.Selectors) == 0 {
		c.errorf(r, "selectors", "VirtualOutbound needs at least one selector (e.g. match: {kuma.io/service: \"*\"})")
	}
	for i, s := range vo.Selectors {
		if len(s.Match) == 0 {
			c.errorf(r, fmt.Sprintf("selectors[%d].match", i), "selector matches no tags; use {kuma.io/service: \"*\"} to select every service")
		}
	}
	declared := map[string]bool{}
	hasService := false
	for i, p := range vo.Conf.Parameters {
		pp := fmt.Sprintf("conf.parameters[%d]", i)
		switch {
		case !identRE.MatchString(p.Name):
			c.errorf(r, pp+".name", "parameter name %q cannot be used in a template: use letters, digits and _ (and tagKey for the tag)", p.Name)
		case declared[p.Name]:
			c.errorf(r, pp+".name", "parameter %q is declared twice", p.Name)
		}
		declared[p.Name] = true
		tag := p.TagKey
		if tag == "" {
			tag = p.Name
		}
		if tag == schema.TagService {
			hasService = true
		}
	}
	if !hasService {
		c.errorf(r, "conf.parameters", "must include the service: add {name: service, tagKey: kuma.io/service}")
	}
	if c.checkTemplate(r, "conf.host", vo.Conf.Host, declared) && isLiteral(vo.Conf.Host) && !isDNSName(vo.Conf.Host) {
		c.errorf(r, "conf.host", "host %q is not a DNS name", vo.Conf.Host)
	}
	if c.checkTemplate(r, "conf.port", vo.Conf.Port, declared) && isLiteral(vo.Conf.Port) {
		if n, err := strconv.Atoi(vo.Conf.Port); err != nil || n < 1 || n > 65535 {
			c.errorf(r, "conf.port", "port %q is not a port number (1–65535)", vo.Conf.Port)
		}
	}
}

// checkTemplate parses a Go template and reports fields that are not declared
// parameters. It returns whether the template is valid.
func (c *checker) checkTemplate(r *schema.Resource, path, text string, declared map[string]bool) bool {
	if strings.TrimSpace(text) == "" {
		c.errorf(r, path, "empty template")
		return false
	}
	t, err := template.New(path).Option("missingkey=error").Parse(text)
	if err != nil {
		// Drop "template: NAME:LINE:" — the position is the field's.
		msg := templateErrPrefix.ReplaceAllString(err.Error(), "")
		c.errorf(r, path, "not a valid template: %s", msg)
		return false
	}
	ok := true
	for _, f := range templateFields(t.Tree.Root) {
		if !declared[f] {
			c.errorf(r, path, "uses {{.%s}}, which is not a declared parameter; declare it under conf.parameters", f)
			ok = false
		}
	}
	return ok
}

// templateFields lists the first identifier of every .field in a template.
func templateFields(n parse.Node) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, x := range n.Nodes {
				walk(x)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, cmd := range n.Cmds {
				walk(cmd)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			if len(n.Ident) > 0 && !seen[n.Ident[0]] {
				seen[n.Ident[0]] = true
				out = append(out, n.Ident[0])
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(n)
	return out
}

func isLiteral(s string) bool { return !strings.Contains(s, "{{") }

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// isDNSName reports whether s is a lower-case DNS name of RFC 1123 labels.
func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !dnsLabelRE.MatchString(strings.ToLower(l)) {
			return false
		}
	}
	return true
}

// checkExternalService checks the service tag and the host:port address.
func (c *checker) checkExternalService(r *schema.Resource) {
	es := r.ExternalServiceSpec()
	if es == nil {
		c.errorf(r, "", "ExternalService %q has no body", r.Name)
		return
	}
	if es.Tags[schema.TagService] == "" {
		c.errorf(r, "tags", "ExternalService needs tags.%s: the service name callers use", schema.TagService)
	}
	addr := es.Networking.Address
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		c.errorf(r, "networking.address", "address %q is not host:port (e.g. api.example.com:443)", addr)
	} else {
		if n, perr := strconv.Atoi(port); perr != nil || n < 1 || n > 65535 {
			c.errorf(r, "networking.address", "address %q: port %q is not a port number (1–65535)", addr, port)
		}
		if _, ipErr := netip.ParseAddr(host); ipErr != nil && !isDNSName(host) {
			c.errorf(r, "networking.address", "address %q: host %q is neither an IP address nor a DNS name", addr, host)
		}
	}
	if tls := es.Networking.TLS; tls != nil && tls.ServerName != "" && !isDNSName(tls.ServerName) {
		c.errorf(r, "networking.tls.serverName", "serverName %q is not a DNS name", tls.ServerName)
	}
}
