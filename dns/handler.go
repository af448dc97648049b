package dns

import (
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// maxUDPResponse caps the UDP payload size we answer with, whatever a client advertises.
const maxUDPResponse = 4096

// queryKind labels how a query was answered (metric label "kind").
const (
	kindMesh    = "mesh"    // answered from the Source
	kindForward = "forward" // passed to an upstream resolver
	kindRefused = "refused" // refused (no upstream, unknown mesh, bad class)
	kindInvalid = "invalid" // FORMERR, NOTIMP, BADVERS
)

// answer builds the response to one request. mesh is the listener's mesh ("" for
// the shared listener, where the client's address decides). It never panics on
// a request the server accepted, and never returns nil.
func (s *Server) answer(r *mdns.Msg, mesh string, client netip.Addr, udp bool) (*mdns.Msg, string) {
	m := new(mdns.Msg)
	if len(r.Question) != 1 {
		m.SetRcodeFormatError(r)
		return m, kindInvalid
	}
	m.SetReply(r)
	if r.Opcode != mdns.OpcodeQuery {
		m.Rcode = mdns.RcodeNotImplemented
		return m, kindInvalid
	}
	size := mdns.MinMsgSize
	opt := r.IsEdns0()
	if opt != nil {
		if opt.Version() != 0 {
			m.SetEdns0(maxUDPResponse, false)
			m.Rcode = mdns.RcodeBadVers // Pack puts the upper bits in the OPT record
			return m, kindInvalid
		}
		size = max(int(opt.UDPSize()), mdns.MinMsgSize)
		size = min(size, maxUDPResponse)
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	m.Question[0].Name = q.Name // echo the question as asked (0x20 case randomisation)
	kind := kindMesh

	src := s.source()
	if mesh == "" {
		if mm, ok := src.MeshOf(client); ok {
			mesh = mm
		}
	}
	var rec Record
	found := false
	if mesh != "" {
		rec, found = src.Resolve(mesh, name)
	}
	inMesh := name == "mesh." || strings.HasSuffix(name, ".mesh.")
	switch {
	case q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY:
		m.Rcode = mdns.RcodeRefused
		kind = kindRefused
	case found:
		m.Authoritative = true
		m.Answer = s.records(q.Name, q.Qtype, rec)
		if len(m.Answer) == 0 {
			m.Ns = []mdns.RR{s.soa()}
		}
	case inMesh && mesh == "":
		m.Rcode = mdns.RcodeRefused
		kind = kindRefused
		if opt != nil {
			m.SetEdns0(uint16(size), false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_EDE{
				InfoCode:  mdns.ExtendedErrorCodeProhibited,
				ExtraText: "meshc: cannot tell this client's mesh from its address " + client.String() + "; query the mesh's own DNS address",
			})
			opt = nil
		}
	case name == "mesh.":
		m.Authoritative = true
		if q.Qtype == mdns.TypeSOA || q.Qtype == mdns.TypeANY {
			m.Answer = []mdns.RR{s.soa()}
		} else {
			m.Ns = []mdns.RR{s.soa()}
		}
	case inMesh:
		m.Authoritative = true
		m.Rcode = mdns.RcodeNameError
		m.Ns = []mdns.RR{s.soa()}
	default:
		return s.forward(r, udp, size)
	}
	if opt != nil {
		m.SetEdns0(uint16(size), opt.Do())
	}
	if udp {
		m.Truncate(size)
	}
	return m, kind
}

func (s *Server) records(qname string, qtype uint16, rec Record) []mdns.RR {
	ttl := uint32(s.cfg.TTL / time.Second)
	var out []mdns.RR
	if (qtype == mdns.TypeA || qtype == mdns.TypeANY) && rec.V4.IsValid() {
		out = append(out, &mdns.A{
			Hdr: mdns.RR_Header{Name: qname, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: ttl},
			A:   rec.V4.AsSlice(),
		})
	}
	if (qtype == mdns.TypeAAAA || qtype == mdns.TypeANY) && rec.V6.IsValid() {
		out = append(out, &mdns.AAAA{
			Hdr:  mdns.RR_Header{Name: qname, Rrtype: mdns.TypeAAAA, Class: mdns.ClassINET, Ttl: ttl},
			AAAA: rec.V6.AsSlice(),
		})
	}
	return out
}

// soa is the synthesized SOA of "mesh." that negative answers carry; its
// minimum (negative-caching TTL) is the record TTL.
func (s *Server) soa() mdns.RR {
	ttl := uint32(s.cfg.TTL / time.Second)
	return &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: "mesh.", Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: ttl},
		Ns:      "ns.mesh.",
		Mbox:    "hostmaster.mesh.",
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  ttl,
	}
}
