package compiler

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/meshc/meshc/schema"
)

// VirtualHost is one hostname:port a VirtualOutbound exposes: the host gets its
// own VIP and resolves in DNS; the proxy listens on VIP:Port and forwards to
// Service (restricted to the instances carrying Tags, when Tags is not empty).
type VirtualHost struct {
	Host            string // lowercase, no trailing dot
	Port            int
	Service         string
	Tags            map[string]string // parameter tags other than kuma.io/service
	VirtualOutbound string            // the resource that produced it
}

// RenderVirtualOutbounds renders each VirtualOutbound's conf.host and conf.port
// templates (Go text/template over the named parameters) for every instance tag
// set that one of its selectors matches. A parameter's value is the instance's
// tag parameters[i].tagKey (default: the parameter's name); an instance missing
// one of them yields nothing. Results are deduplicated and sorted by host, port;
// when two services render the same host:port the first VirtualOutbound (by
// name), then the first service (by name) keeps it and the other is reported.
// Template and port problems are warnings naming the resource and field.
func RenderVirtualOutbounds(vos []*schema.Resource, instances []map[string]string) ([]VirtualHost, schema.Errors) {
	sorted := append([]*schema.Resource(nil), vos...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var warns schema.Errors
	seen := map[string]VirtualHost{} // host:port → first claimant
	var out []VirtualHost
	for _, vo := range sorted {
		spec := vo.VirtualOutboundSpec()
		if spec == nil {
			continue
		}
		hostT, portT, err := parseVOTemplates(spec)
		if err != nil {
			warns = append(warns, voWarning(vo, err.field, err.msg))
			continue
		}
		rendered := map[string]VirtualHost{}
		for _, tags := range instances {
			if !anySelectorMatches(spec.Selectors, tags) {
				continue
			}
			vh, ok, werr := renderOne(vo, spec, hostT, portT, tags)
			if werr != nil {
				warns = append(warns, *werr)
				continue
			}
			if !ok {
				continue
			}
			k := vh.Host + ":" + strconv.Itoa(vh.Port)
			if prev, dup := rendered[k]; dup && (prev.Service < vh.Service || prev.Service == vh.Service) {
				continue
			}
			rendered[k] = vh
		}
		keys := make([]string, 0, len(rendered))
		for k := range rendered {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			vh := rendered[k]
			if prev, dup := seen[k]; dup {
				if prev.Service != vh.Service {
					warns = append(warns, voWarning(vo, "conf.host", fmt.Sprintf(
						"host %s:%d of service %q is already taken by service %q (VirtualOutbound %q); left out",
						vh.Host, vh.Port, vh.Service, prev.Service, prev.VirtualOutbound)))
				}
				continue
			}
			seen[k] = vh
			out = append(out, vh)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].Port < out[j].Port
	})
	return out, warns
}

type voErr struct{ field, msg string }

func parseVOTemplates(spec *schema.VirtualOutboundSpec) (*template.Template, *template.Template, *voErr) {
	if strings.TrimSpace(spec.Conf.Host) == "" {
		return nil, nil, &voErr{"conf.host", "host template is empty"}
	}
	h, err := template.New("host").Option("missingkey=error").Parse(spec.Conf.Host)
	if err != nil {
		return nil, nil, &voErr{"conf.host", "host template: " + err.Error()}
	}
	if strings.TrimSpace(spec.Conf.Port) == "" {
		return nil, nil, &voErr{"conf.port", "port template is empty"}
	}
	p, err := template.New("port").Option("missingkey=error").Parse(spec.Conf.Port)
	if err != nil {
		return nil, nil, &voErr{"conf.port", "port template: " + err.Error()}
	}
	return h, p, nil
}

// renderOne renders one instance; ok is false when the instance lacks a parameter tag.
func renderOne(vo *schema.Resource, spec *schema.VirtualOutboundSpec, hostT, portT *template.Template, tags map[string]string) (VirtualHost, bool, *schema.Error) {
	svc := tags[schema.TagService]
	if svc == "" {
		return VirtualHost{}, false, nil
	}
	params := map[string]string{}
	subset := map[string]string{}
	for _, p := range spec.Conf.Parameters {
		key := p.TagKey
		if key == "" {
			key = p.Name
		}
		v, ok := tags[key]
		if !ok {
			return VirtualHost{}, false, nil
		}
		params[p.Name] = v
		if key != schema.TagService {
			subset[key] = v
		}
	}
	var hb, pb strings.Builder
	if err := hostT.Execute(&hb, params); err != nil {
		w := voWarning(vo, "conf.host", "host template: "+err.Error())
		return VirtualHost{}, false, &w
	}
	if err := portT.Execute(&pb, params); err != nil {
		w := voWarning(vo, "conf.port", "port template: "+err.Error())
		return VirtualHost{}, false, &w
	}
	host := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(hb.String())), ".")
	if !ValidDNSName(host) {
		w := voWarning(vo, "conf.host", fmt.Sprintf("host %q rendered for service %q is not a valid DNS name", host, svc))
		return VirtualHost{}, false, &w
	}
	port, err := strconv.Atoi(strings.TrimSpace(pb.String()))
	if err != nil || port < 1 || port > 65535 {
		w := voWarning(vo, "conf.port", fmt.Sprintf("port %q rendered for service %q is not a port number (1-65535)", pb.String(), svc))
		return VirtualHost{}, false, &w
	}
	if len(subset) == 0 {
		subset = nil
	}
	return VirtualHost{Host: host, Port: port, Service: svc, Tags: subset, VirtualOutbound: vo.Name}, true, nil
}

func anySelectorMatches(sels []schema.Selector, tags map[string]string) bool {
	for _, s := range sels {
		if selectorMatches(s.Match, tags) {
			return true
		}
	}
	return false
}

func selectorMatches(match, tags map[string]string) bool {
	for k, want := range match {
		got, ok := tags[k]
		if !ok || (want != "*" && want != got) {
			return false
		}
	}
	return true
}

func voWarning(vo *schema.Resource, field, msg string) schema.Error {
	return schema.Error{
		Pos:      vo.Source.At(field),
		Path:     field,
		Resource: vo.Key().String(),
		Msg:      fmt.Sprintf("VirtualOutbound %q: %s", vo.Name, msg),
		Severity: schema.SeverityWarning,
	}
}
