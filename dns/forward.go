package dns

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/meshc/meshc/compiler"
)

// SystemUpstreams returns the resolvers of /etc/resolv.conf as host:port (the
// default of --dns-upstream). A missing or unreadable file gives none.
func SystemUpstreams(path string) []string {
	if path == "" {
		path = "/etc/resolv.conf"
	}
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	cc, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out
}

// NormalizeUpstream accepts "host", "host:port", an IPv6 address or
// "[v6]:port" (port 53 by default) and returns host:port.
func NormalizeUpstream(s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("upstream resolver %q is not host, host:port, an IP address or [IPv6]:port", s)
	if s == "" {
		return "", fmt.Errorf("empty upstream resolver")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), "53"
		if strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return "", bad
		}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", bad
	}
	if net.ParseIP(host) == nil && !compiler.ValidDNSName(strings.TrimSuffix(host, ".")) {
		return "", bad
	}
	return net.JoinHostPort(host, port), nil
}

// forward passes a query outside the served names to the upstream resolvers in
// order; REFUSED when none is configured, SERVFAIL when none answers. Over UDP
// the answer is truncated to what the client can take (it retries over TCP).
func (s *Server) forward(r *mdns.Msg, udp bool, size int) (*mdns.Msg, string) {
	if len(s.cfg.Upstreams) == 0 {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeRefused)
		return m, kindRefused
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ForwardTimeout)
	defer cancel()
	req := r.Copy()
	var lastErr error
	for _, up := range s.cfg.Upstreams {
		resp, err := s.exchange(ctx, req, up, udp)
		if err != nil {
			lastErr = err
			continue
		}
		resp.Id = r.Id
		resp.Compress = true
		fitEDNS(resp, r, size)
		if udp {
			resp.Truncate(size)
		}
		return resp, kindForward
	}
	s.log.Warn("dns: no upstream resolver answered", "name", r.Question[0].Name, "upstreams", s.cfg.Upstreams, "err", lastErr)
	m := new(mdns.Msg)
	m.SetRcode(r, mdns.RcodeServerFailure)
	return m, kindForward
}

func (s *Server) exchange(ctx context.Context, req *mdns.Msg, upstream string, udp bool) (*mdns.Msg, error) {
	network := "udp"
	if !udp {
		network = "tcp"
	}
	c := &mdns.Client{Net: network, UDPSize: mdns.MaxMsgSize}
	resp, _, err := c.ExchangeContext(ctx, req, upstream)
	if err == nil && resp.Truncated && network == "udp" {
		// a client on UDP gets the truncated answer and retries over TCP itself
		return resp, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", network, upstream, err)
	}
	return resp, nil
}

// fitEDNS makes a forwarded answer's OPT record match the client's request:
// present (with our payload size) when the client sent one, absent otherwise.
func fitEDNS(resp, req *mdns.Msg, size int) {
	var extra []mdns.RR
	var upstreamDO bool
	for _, rr := range resp.Extra {
		if o, ok := rr.(*mdns.OPT); ok {
			upstreamDO = o.Do()
			continue
		}
		extra = append(extra, rr)
	}
	resp.Extra = extra
	if o := req.IsEdns0(); o != nil {
		resp.SetEdns0(uint16(size), o.Do() && upstreamDO)
	}
}
