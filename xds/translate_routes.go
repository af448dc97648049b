package xds

import (
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// routeName names the RouteConfiguration of an outbound service.
func routeName(os *compiler.OutboundService) string {
	return "outbound:" + compiler.ClusterName(os.Service, os.Subset)
}

// routeConfig returns the (shared) RouteConfiguration of an outbound service.
func (t *Translator) routeConfig(os *compiler.OutboundService, proxyless bool) (*routev3.RouteConfiguration, string, error) {
	name := routeName(os)
	key := name + "|" + os.Hash
	if proxyless {
		key = "pl|" + key
	}
	v, h, err := t.routes.get(key, func() (*routev3.RouteConfiguration, error) {
		vh := &routev3.VirtualHost{Name: os.Service, Domains: []string{"*"}}
		for _, rp := range os.Routes {
			vh.Routes = append(vh.Routes, httpRoute(rp, os, proxyless))
		}
		rc := &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{vh}}
		if !proxyless {
			rc.ValidateClusters = wrapperspb.Bool(false)
		}
		return rc, validate("route "+name, rc)
	})
	return v, h, err
}

func httpRoute(rp *compiler.RoutePlan, os *compiler.OutboundService, proxyless bool) *routev3.Route {
	act := &routev3.RouteAction{}
	if len(rp.Backends) == 1 {
		act.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: rp.Backends[0].Name}
	} else {
		wc := &routev3.WeightedCluster{}
		for _, b := range rp.Backends {
			wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: b.Name, Weight: wrapperspb.UInt32(uint32(b.Weight))})
		}
		act.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	if to := os.Timeout; to != nil && to.HTTP != nil {
		if to.HTTP.RequestTimeout != nil {
			act.Timeout = durationpb.New(to.HTTP.RequestTimeout.Duration)
		}
		if to.HTTP.StreamIdleTimeout != nil {
			act.IdleTimeout = durationpb.New(to.HTTP.StreamIdleTimeout.Duration)
		}
		if to.HTTP.MaxStreamDuration != nil {
			act.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{MaxStreamDuration: durationpb.New(to.HTTP.MaxStreamDuration.Duration)}
		}
	}
	if rt := os.Retry; rt != nil {
		conf := rt.HTTP
		grpc := os.Protocol == compiler.ProtocolGRPC
		if grpc && rt.GRPC != nil {
			conf = rt.GRPC
		}
		if conf != nil {
			act.RetryPolicy = retryPolicy(conf, grpc && rt.GRPC != nil)
		}
	}
	if rp.Mirror != nil {
		act.RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{
			Cluster: rp.Mirror.Name,
			RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
				Numerator: uint32(rp.Mirror.Percent * 10000), Denominator: typev3.FractionalPercent_MILLION,
			}},
		}}
	}
	r := &routev3.Route{Match: routeMatch(rp.Match, proxyless), Action: &routev3.Route_Route{Route: act}}
	for _, f := range rp.Filters {
		switch {
		case f.Type == "RequestRedirect" && f.RequestRedirect != nil:
			r.Action = &routev3.Route_Redirect{Redirect: redirect(f.RequestRedirect)}
		case f.Type == "URLRewrite" && f.URLRewrite != nil:
			rewrite(act, f.URLRewrite)
		case f.Type == "RequestHeaderModifier" && f.RequestHeaderModifier != nil:
			r.RequestHeadersToAdd, r.RequestHeadersToRemove = headerMods(f.RequestHeaderModifier)
		case f.Type == "ResponseHeaderModifier" && f.ResponseHeaderModifier != nil:
			r.ResponseHeadersToAdd, r.ResponseHeadersToRemove = headerMods(f.ResponseHeaderModifier)
		}
	}
	return r
}

// pathModifier is a Gateway API path modifier (ReplaceFullPath | ReplacePrefixMatch).
type pathModifier struct {
	Type               string `json:"type"`
	ReplaceFullPath    string `json:"replaceFullPath"`
	ReplacePrefixMatch string `json:"replacePrefixMatch"`
}

func redirect(m map[string]any) *routev3.RedirectAction {
	c, _ := schema.DecodeConf[struct {
		Scheme     string        `json:"scheme"`
		Hostname   string        `json:"hostname"`
		Path       *pathModifier `json:"path"`
		Port       int           `json:"port"`
		StatusCode int           `json:"statusCode"`
	}](m)
	ra := &routev3.RedirectAction{HostRedirect: c.Hostname, PortRedirect: uint32(c.Port)}
	if c.Scheme != "" {
		ra.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: c.Scheme}
	}
	if p := c.Path; p != nil {
		if p.Type == "ReplaceFullPath" {
			ra.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: p.ReplaceFullPath}
		} else {
			ra.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: p.ReplacePrefixMatch}
		}
	}
	switch c.StatusCode {
	case 301:
		ra.ResponseCode = routev3.RedirectAction_MOVED_PERMANENTLY
	case 303:
		ra.ResponseCode = routev3.RedirectAction_SEE_OTHER
	case 307:
		ra.ResponseCode = routev3.RedirectAction_TEMPORARY_REDIRECT
	case 308:
		ra.ResponseCode = routev3.RedirectAction_PERMANENT_REDIRECT
	default:
		ra.ResponseCode = routev3.RedirectAction_FOUND
	}
	return ra
}

func rewrite(act *routev3.RouteAction, m map[string]any) {
	c, _ := schema.DecodeConf[struct {
		Hostname string        `json:"hostname"`
		Path     *pathModifier `json:"path"`
	}](m)
	if c.Hostname != "" {
		act.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: c.Hostname}
	}
	if p := c.Path; p != nil {
		if p.Type == "ReplaceFullPath" {
			act.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "^.*$"}, Substitution: p.ReplaceFullPath}
		} else {
			act.PrefixRewrite = p.ReplacePrefixMatch
		}
	}
}

func headerMods(m *schema.HeaderModifier) ([]*corev3.HeaderValueOption, []string) {
	var add []*corev3.HeaderValueOption
	for _, h := range m.Set {
		add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: h.Name, Value: h.Value}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	for _, h := range m.Add {
		add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: h.Name, Value: h.Value}, AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD})
	}
	return add, m.Remove
}

var httpRetryOn = map[string]string{
	"5XX": "5xx", "5xx": "5xx", "GatewayError": "gateway-error", "Reset": "reset", "Retriable4xx": "retriable-4xx",
	"ConnectFailure": "connect-failure", "EnvoyRatelimited": "envoy-ratelimited", "RefusedStream": "refused-stream",
	"Http3PostConnectFailure": "http3-post-connect-failure", "RetriableHeaders": "retriable-headers",
}

var grpcRetryOn = map[string]string{
	"Canceled": "cancelled", "DeadlineExceeded": "deadline-exceeded", "Internal": "internal",
	"ResourceExhausted": "resource-exhausted", "Unavailable": "unavailable",
}

func retryPolicy(c *schema.HTTPRetry, grpc bool) *routev3.RetryPolicy {
	rp := &routev3.RetryPolicy{}
	if c.NumRetries != nil {
		rp.NumRetries = wrapperspb.UInt32(uint32(*c.NumRetries))
	}
	if c.PerTryTimeout != nil {
		rp.PerTryTimeout = durationpb.New(c.PerTryTimeout.Duration)
	}
	if b := c.BackOff; b != nil && b.BaseInterval != nil {
		rp.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(b.BaseInterval.Duration)}
		if b.MaxInterval != nil {
			rp.RetryBackOff.MaxInterval = durationpb.New(b.MaxInterval.Duration)
		}
	}
	var on, methods []string
	for _, v := range c.RetryOn {
		if m, ok := strings.CutPrefix(v, "HttpMethod"); ok {
			methods = append(methods, strings.ToUpper(m))
			continue
		}
		if n, err := strconv.Atoi(v); err == nil {
			rp.RetriableStatusCodes = append(rp.RetriableStatusCodes, uint32(n))
			on = appendOnce(on, "retriable-status-codes")
			continue
		}
		table := httpRetryOn
		if grpc {
			table = grpcRetryOn
		}
		if m, ok := table[v]; ok {
			on = appendOnce(on, m)
		} else {
			on = appendOnce(on, strings.ToLower(v))
		}
	}
	if len(on) == 0 {
		if grpc {
			on = []string{"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}
		} else {
			on = []string{"gateway-error", "connect-failure", "refused-stream"}
		}
	}
	rp.RetryOn = strings.Join(on, ",")
	if len(methods) > 0 {
		rp.RetriableRequestHeaders = []*routev3.HeaderMatcher{{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
			StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "^(" + strings.Join(methods, "|") + ")$"}}}}}}
	}
	return rp
}

func appendOnce(ss []string, s string) []string {
	for _, x := range ss {
		if x == s {
			return ss
		}
	}
	return append(ss, s)
}

// routeMatch: PathPrefix matches whole path segments (Gateway API); grpc-go
// lacks path_separated_prefix, so proxyless clients get a plain prefix.
func routeMatch(m *schema.HTTPMatch, proxyless bool) *routev3.RouteMatch {
	rm := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	if m == nil {
		return rm
	}
	if p := m.Path; p != nil {
		switch p.Type {
		case "Exact":
			rm.PathSpecifier = &routev3.RouteMatch_Path{Path: p.Value}
		case "PathPrefix":
			if p.Value == "/" {
				break
			}
			if proxyless {
				rm.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: p.Value}
				break
			}
			rm.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: strings.TrimSuffix(p.Value, "/")}
		case "RegularExpression":
			rm.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: p.Value}}
		}
	}
	if m.Method != "" {
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
			StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m.Method}}}})
	}
	for _, h := range m.Headers {
		rm.Headers = append(rm.Headers, headerMatcher(h))
	}
	for _, q := range m.QueryParams {
		qm := &routev3.QueryParameterMatcher{Name: q.Name}
		switch q.Type {
		case "Present":
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		case "RegularExpression":
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: q.Value}}}}
		default:
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Exact{Exact: q.Value}}}
		}
		rm.QueryParameters = append(rm.QueryParameters, qm)
	}
	return rm
}

func headerMatcher(h schema.ValueMatch) *routev3.HeaderMatcher {
	hm := &routev3.HeaderMatcher{Name: h.Name}
	sm := func(p *matcherv3.StringMatcher) *routev3.HeaderMatcher_StringMatch {
		return &routev3.HeaderMatcher_StringMatch{StringMatch: p}
	}
	switch h.Type {
	case "Present":
		hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
	case "Absent":
		hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		hm.InvertMatch = true
	case "RegularExpression":
		hm.HeaderMatchSpecifier = sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: h.Value}}})
	case "Prefix":
		hm.HeaderMatchSpecifier = sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: h.Value}})
	default:
		hm.HeaderMatchSpecifier = sm(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: h.Value}})
	}
	return hm
}
