package dns

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer runs a Server until the test ends and checks it shuts down.
func startServer(t testing.TB, cfg Config, src Source) *Server {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetSource(src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("dns server did not shut down")
		}
	})
	return s
}

// startUpstream is a real DNS server on loopback standing in for the operator's
// resolver: example.com. → 93.184.216.34, big.example. → 200 A records.
func startUpstream(t testing.TB) string {
	t.Helper()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		switch strings.ToLower(r.Question[0].Name) {
		case "example.com.":
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(93, 184, 216, 34)})
		case "big.example.":
			for i := 0; i < 200; i++ {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(10, 0, byte(i/256), byte(i))})
			}
		default:
			m.Rcode = mdns.RcodeNameError
		}
		if w.RemoteAddr().Network() == "udp" {
			size := mdns.MinMsgSize
			if o := r.IsEdns0(); o != nil {
				size = int(o.UDPSize())
			}
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	us := &mdns.Server{PacketConn: pc, Handler: h}
	ts := &mdns.Server{Listener: ln, Handler: h}
	go func() { _ = us.ActivateAndServe() }()
	go func() { _ = ts.ActivateAndServe() }()
	t.Cleanup(func() { _ = us.Shutdown(); _ = ts.Shutdown() })
	return pc.LocalAddr().String()
}

// fixture: two meshes. default has backend (8080), the Kubernetes-style
// echo-server service and a VirtualOutbound host; other has its own backend.
// The dataplane of "other" sits at 127.0.0.2, one of default at 127.0.0.3,
// and 127.0.0.4 holds dataplanes of both.
func fixture(t testing.TB) (*Table, compiler.VIPs) {
	t.Helper()
	meshes := []compiler.MeshServices{
		{Mesh: "default", Services: []compiler.ServiceEntry{{Name: "backend", Ports: []int{8080}}, {Name: "echo-server_echo-example_svc_1010"}},
			VirtualHosts: []compiler.VirtualHost{{Host: "backend.8080.mesh", Port: 8080, Service: "backend"}, {Host: "backend.svc.local", Port: 80, Service: "backend"}}},
		{Mesh: "other", Services: []compiler.ServiceEntry{{Name: "backend"}, {Name: "only-other"}}},
	}
	a, err := NewAllocator(AllocatorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	reqs, _ := a.Requests(nil, meshes)
	vips, errs := a.Sync(reqs)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	dp := func(mesh, addr string) schema.Resource {
		return schema.Resource{Type: schema.TypeDataplane, Mesh: mesh, Name: mesh + addr, Spec: &schema.DataplaneSpec{Networking: schema.DataplaneNetworking{Address: addr}}}
	}
	dps := []schema.Resource{dp("other", "127.0.0.2"), dp("default", "127.0.0.3"), dp("default", "127.0.0.4"), dp("other", "127.0.0.4")}
	return NewTable(vips, meshes, dps), vips
}

func exchange(t testing.TB, network, server, local string, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second}
	if local != "" {
		ip := net.ParseIP(local)
		if network == "tcp" {
			c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
		} else {
			c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: ip}, Timeout: 5 * time.Second}
		}
	}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("%s query %s to %s: %v", network, m.Question[0].Name, server, err)
	}
	return r
}

func query(name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func answerAddrs(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *mdns.A:
			out = append(out, v.A.String())
		case *mdns.AAAA:
			out = append(out, v.AAAA.String())
		case *mdns.SOA:
			out = append(out, "SOA "+v.Hdr.Name)
		}
	}
	return out
}

func TestServerAnswers(t *testing.T) {
	table, vips := fixture(t)
	up := startUpstream(t)
	reg := prometheus.NewRegistry()
	s := startServer(t, Config{Addr: "127.0.0.1:0", MeshAddrs: map[string]string{"other": "127.0.0.1:0", "default": "127.0.0.1:0"}, Upstreams: []string{up}, TTL: 17 * time.Second, Registry: reg}, table)
	norefuse := startServer(t, Config{Addr: "127.0.0.1:0"}, table)
	d, o := vips["default"], vips["other"]
	backend, echo := d.Services["backend"].String(), d.Services["echo-server_echo-example_svc_1010"].String()
	for _, tc := range []struct {
		name   string
		server string
		from   string
		q      string
		qtype  uint16
		rcode  int
		answer []string
		soa    bool // negative answer carries the SOA of mesh.
	}{
		{"service A", s.MeshAddr("default"), "", "backend.mesh.", mdns.TypeA, mdns.RcodeSuccess, []string{backend}, false},
		{"case-insensitive", s.MeshAddr("default"), "", "BackEnd.MESH.", mdns.TypeA, mdns.RcodeSuccess, []string{backend}, false},
		{"underscore form", s.MeshAddr("default"), "", "echo-server_echo-example_svc_1010.mesh.", mdns.TypeA, mdns.RcodeSuccess, []string{echo}, false},
		{"RFC 1123 form", s.MeshAddr("default"), "", "echo-server.echo-example.svc.1010.mesh.", mdns.TypeA, mdns.RcodeSuccess, []string{echo}, false},
		{"VirtualOutbound host", s.MeshAddr("default"), "", "backend.8080.mesh.", mdns.TypeA, mdns.RcodeSuccess, []string{d.Hosts["backend.8080.mesh"].String()}, false},
		{"VirtualOutbound host outside .mesh", s.MeshAddr("default"), "", "backend.svc.local.", mdns.TypeA, mdns.RcodeSuccess, []string{d.Hosts["backend.svc.local"].String()}, false},
		{"AAAA of a known name: no data", s.MeshAddr("default"), "", "backend.mesh.", mdns.TypeAAAA, mdns.RcodeSuccess, nil, true},
		{"MX of a known name: no data", s.MeshAddr("default"), "", "backend.mesh.", mdns.TypeMX, mdns.RcodeSuccess, nil, true},
		{"unknown under .mesh", s.MeshAddr("default"), "", "nope.mesh.", mdns.TypeA, mdns.RcodeNameError, nil, true},
		{"other mesh's name is unknown here", s.MeshAddr("default"), "", "only-other.mesh.", mdns.TypeA, mdns.RcodeNameError, nil, true},
		{"apex SOA", s.MeshAddr("default"), "", "mesh.", mdns.TypeSOA, mdns.RcodeSuccess, []string{"SOA mesh."}, false},
		{"per-mesh listener: other", s.MeshAddr("other"), "", "backend.mesh.", mdns.TypeA, mdns.RcodeSuccess, []string{o.Services["backend"].String()}, false},
		{"forwarded", s.MeshAddr("default"), "", "example.com.", mdns.TypeA, mdns.RcodeSuccess, []string{"93.184.216.34"}, false},
		{"forwarded NXDOMAIN", s.MeshAddr("default"), "", "nope.example.", mdns.TypeA, mdns.RcodeNameError, nil, false},
		{"no upstream: REFUSED", norefuse.Addr(), "", "example.com.", mdns.TypeA, mdns.RcodeRefused, nil, false},
		{"shared: source of other's dataplane", s.Addr(), "127.0.0.2", "backend.mesh.", mdns.TypeA, mdns.RcodeSuccess, []string{o.Services["backend"].String()}, false},
		{"shared: source of default's dataplane", s.Addr(), "127.0.0.3", "backend.mesh.", mdns.TypeA, mdns.RcodeSuccess, []string{backend}, false},
		{"shared: source in two meshes", s.Addr(), "127.0.0.4", "backend.mesh.", mdns.TypeA, mdns.RcodeRefused, nil, false},
		{"shared: unknown source, two meshes", s.Addr(), "127.0.0.5", "backend.mesh.", mdns.TypeA, mdns.RcodeRefused, nil, false},
		{"shared: unknown source still forwards", s.Addr(), "127.0.0.5", "example.com.", mdns.TypeA, mdns.RcodeSuccess, []string{"93.184.216.34"}, false},
	} {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				r := exchange(t, network, tc.server, tc.from, query(tc.q, tc.qtype))
				if r.Rcode != tc.rcode {
					t.Fatalf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tc.rcode])
				}
				if got := answerAddrs(r); strings.Join(got, ",") != strings.Join(tc.answer, ",") {
					t.Errorf("answer %v, want %v", got, tc.answer)
				}
				for _, rr := range r.Answer {
					if rr.Header().Name != tc.q {
						t.Errorf("answer name %q, want the question as asked %q", rr.Header().Name, tc.q)
					}
					if a, ok := rr.(*mdns.A); ok && !a.A.Equal(net.IPv4(93, 184, 216, 34)) && rr.Header().Ttl != 17 {
						t.Errorf("TTL %d, want 17", rr.Header().Ttl)
					}
				}
				if tc.soa != (len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == mdns.TypeSOA) {
					t.Errorf("authority %v, want SOA: %v", r.Ns, tc.soa)
				}
			})
		}
	}
	if n := testutil.ToFloat64(s.queries.WithLabelValues("NXDOMAIN", kindMesh)); n != 4 {
		t.Errorf("meshc_dns_queries_total{rcode=NXDOMAIN,kind=mesh} = %v, want 4", n)
	}
	if n, err := testutil.GatherAndCount(reg, "meshc_dns_queries_total"); err != nil || n == 0 {
		t.Errorf("metrics not registered: %d %v", n, err)
	}
}

func TestServerEDNSAndTruncation(t *testing.T) {
	table, _ := fixture(t)
	s := startServer(t, Config{Addr: "127.0.0.1:0", Upstreams: []string{startUpstream(t)}}, table)
	addr := s.Addr()
	// EDNS0 query → OPT in the answer with our payload size
	m := query("example.com.", mdns.TypeA)
	m.SetEdns0(1232, true)
	r := exchange(t, "udp", addr, "", m)
	if o := r.IsEdns0(); o == nil || o.UDPSize() != 1232 {
		t.Errorf("want OPT echoing 1232, got %v", r.IsEdns0())
	}
	// a 200-record answer over plain UDP: truncated with TC; over TCP: complete
	r = exchange(t, "udp", addr, "", query("big.example.", mdns.TypeA))
	r.Compress = true
	if !r.Truncated || r.Len() > mdns.MinMsgSize {
		t.Errorf("UDP without EDNS: truncated=%v len=%d, want TC and ≤512", r.Truncated, r.Len())
	}
	r = exchange(t, "tcp", addr, "", query("big.example.", mdns.TypeA))
	if r.Truncated || len(r.Answer) != 200 {
		t.Errorf("TCP: truncated=%v answers=%d, want 200", r.Truncated, len(r.Answer))
	}
	m = query("big.example.", mdns.TypeA)
	m.SetEdns0(4096, false)
	r = exchange(t, "udp", addr, "", m)
	r.Compress = true
	if r.Truncated || len(r.Answer) != 200 || r.Len() > 4096 {
		t.Errorf("UDP with EDNS 4096: truncated=%v answers=%d len=%d", r.Truncated, len(r.Answer), r.Len())
	}
	// unknown EDNS version → BADVERS
	m = query("backend.mesh.", mdns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	r = exchange(t, "udp", addr, "", m)
	if r.Rcode != mdns.RcodeBadVers || r.IsEdns0() == nil {
		t.Errorf("want BADVERS, got rcode %d opt %v", r.Rcode, r.IsEdns0())
	}
	// CHAOS class → REFUSED; NOTIFY → NOTIMP
	m = query("version.bind.", mdns.TypeTXT)
	m.Question[0].Qclass = mdns.ClassCHAOS
	if r = exchange(t, "udp", addr, "", m); r.Rcode != mdns.RcodeRefused {
		t.Errorf("CHAOS: %s, want REFUSED", mdns.RcodeToString[r.Rcode])
	}
	m = query("backend.mesh.", mdns.TypeSOA)
	m.Opcode = mdns.OpcodeNotify
	if r = exchange(t, "udp", addr, "", m); r.Rcode != mdns.RcodeNotImplemented {
		t.Errorf("NOTIFY: %s, want NOTIMP", mdns.RcodeToString[r.Rcode])
	}
	// REFUSED for an ambiguous client carries an extended error saying what to do
	m = query("backend.mesh.", mdns.TypeA)
	m.SetEdns0(1232, false)
	r = exchange(t, "udp", addr, "127.0.0.4", m)
	var ede *mdns.EDNS0_EDE
	if o := r.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*mdns.EDNS0_EDE); ok {
				ede = e
			}
		}
	}
	if r.Rcode != mdns.RcodeRefused || ede == nil || !strings.Contains(ede.ExtraText, "mesh's own DNS address") {
		t.Errorf("ambiguous client: rcode %s, EDE %v", mdns.RcodeToString[r.Rcode], ede)
	}
}

func TestServerSwapSource(t *testing.T) {
	table, vips := fixture(t)
	s := startServer(t, Config{Addr: "127.0.0.1:0"}, &Table{})
	if r := exchange(t, "udp", s.Addr(), "127.0.0.3", query("backend.mesh.", mdns.TypeA)); r.Rcode != mdns.RcodeRefused && r.Rcode != mdns.RcodeNameError {
		t.Fatalf("empty source: %s", mdns.RcodeToString[r.Rcode])
	}
	s.SetSource(table)
	r := exchange(t, "udp", s.Addr(), "127.0.0.3", query("backend.mesh.", mdns.TypeA))
	if got := answerAddrs(r); len(got) != 1 || got[0] != vips["default"].Services["backend"].String() {
		t.Errorf("after SetSource: %v", got)
	}
}

func TestServerV6VIPs(t *testing.T) {
	a, _ := NewAllocator(AllocatorConfig{DefaultCIDRs: []netip.Prefix{netip.MustParsePrefix("240.0.0.0/4"), netip.MustParsePrefix("fd00:6d65:7368::/64")}})
	ms := []compiler.MeshServices{{Mesh: "m", Services: []compiler.ServiceEntry{{Name: "backend"}}}}
	vips, errs := a.Sync([]MeshRequest{{MeshServices: ms[0]}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s := startServer(t, Config{Addr: "127.0.0.1:0"}, NewTable(vips, ms, nil))
	r := exchange(t, "udp", s.Addr(), "", query("backend.mesh.", mdns.TypeAAAA))
	if got := answerAddrs(r); len(got) != 1 || got[0] != vips["m"].ServicesV6["backend"].String() {
		t.Errorf("AAAA: %v, want %s", got, vips["m"].ServicesV6["backend"])
	}
	r = exchange(t, "tcp", s.Addr(), "", query("backend.mesh.", mdns.TypeANY))
	if len(r.Answer) != 2 {
		t.Errorf("ANY: %v, want A and AAAA", r.Answer)
	}
}

func TestServerBusyPort(t *testing.T) {
	s := startServer(t, Config{Addr: "127.0.0.1:0"}, &Table{})
	_, err := NewServer(Config{Addr: s.Addr(), Log: quietLog()})
	if err == nil || !strings.Contains(err.Error(), "--dns-addr") {
		t.Errorf("want an error naming --dns-addr, got %v", err)
	}
	_ = fmt.Sprint()
}

func TestServerDoesNotForwardToItself(t *testing.T) {
	s := startServer(t, Config{Addr: "127.0.0.1:0"}, &Table{})
	_, port, _ := net.SplitHostPort(s.Addr())
	s.cfg.Upstreams = []string{s.Addr(), "0.0.0.0:" + port, "127.0.0.1:1"}
	s.dropSelfUpstreams() // as NewServer does once bound
	if len(s.cfg.Upstreams) != 1 || s.cfg.Upstreams[0] != "127.0.0.1:1" {
		t.Errorf("upstreams after dropping itself: %v", s.cfg.Upstreams)
	}
}

func TestNormalizeUpstream(t *testing.T) {
	for in, want := range map[string]string{
		"1.1.1.1": "1.1.1.1:53", "1.1.1.1:5353": "1.1.1.1:5353", "2606:4700::1111": "[2606:4700::1111]:53",
		"[::1]:5353": "[::1]:5353", "dns.example": "dns.example:53", "dns.example:54": "dns.example:54",
		"a:b:c:d:e:1:2:3:4": "", "1.1.1.1:0": "", "1.1.1.1:x": "", "bad host": "", "": "",
	} {
		got, err := NormalizeUpstream(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("NormalizeUpstream(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
