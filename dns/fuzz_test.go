package dns

import (
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzHandler feeds arbitrary bytes through the server's path for a UDP packet:
// the accept check, the parse, and the answer. Whatever arrives, the server
// must not panic, must answer with a message that packs, keeps the query's ID
// and fits the client's UDP size.
func FuzzHandler(f *testing.F) {
	for _, p := range malformedPackets() {
		f.Add(p)
	}
	for _, q := range []*mdns.Msg{query("backend.mesh.", mdns.TypeA), query("echo-server.echo-example.svc.1010.mesh.", mdns.TypeAAAA), query("mesh.", mdns.TypeSOA), query("x.example.", mdns.TypeMX)} {
		b, _ := q.Pack()
		f.Add(b)
		q.SetEdns0(1232, true)
		b, _ = q.Pack()
		f.Add(b)
	}
	table, _ := fixture(f)
	s := newServer(Config{Log: quietLog()})
	s.SetSource(table)
	client := netip.MustParseAddr("127.0.0.3")
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(mdns.Msg)
		if err := m.Unpack(data); err != nil {
			return // the server answers FORMERR from the header or drops it (miekg's own path)
		}
		if m.Response {
			return // ignored by the accept check
		}
		for _, mesh := range []string{"", "default"} {
			resp, kind := s.answer(m, mesh, client, true)
			if resp == nil || kind == "" {
				t.Fatal("nil answer")
			}
			if resp.Id != m.Id || !resp.Response {
				t.Fatalf("answer id %d response %v for query id %d", resp.Id, resp.Response, m.Id)
			}
			b, err := resp.Pack()
			if err != nil {
				t.Fatalf("answer does not pack: %v\n%v", err, resp)
			}
			limit := mdns.MinMsgSize
			if o := m.IsEdns0(); o != nil {
				limit = max(limit, min(int(o.UDPSize()), maxUDPResponse))
			}
			if len(b) > limit {
				t.Fatalf("UDP answer of %d bytes exceeds the client's %d", len(b), limit)
			}
		}
	})
}
