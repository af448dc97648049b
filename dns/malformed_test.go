package dns

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// malformedPackets are raw messages a broken or hostile client might send.
func malformedPackets() map[string][]byte {
	header := func(id uint16, flags uint16, qd, an, ns, ar uint16) []byte {
		b := make([]byte, 12)
		binary.BigEndian.PutUint16(b[0:], id)
		binary.BigEndian.PutUint16(b[2:], flags)
		binary.BigEndian.PutUint16(b[4:], qd)
		binary.BigEndian.PutUint16(b[6:], an)
		binary.BigEndian.PutUint16(b[8:], ns)
		binary.BigEndian.PutUint16(b[10:], ar)
		return b
	}
	q := func(name []byte, qtype uint16) []byte {
		return append(append([]byte{}, name...), byte(qtype>>8), byte(qtype), 0, 1)
	}
	oversize := header(7, 0x0100, 1, 0, 0, 0)
	for len(oversize) < 9000 { // far past 512 and any EDNS size: a question of 63-byte labels that never ends
		oversize = append(oversize, 63)
		oversize = append(oversize, bytes.Repeat([]byte{'a'}, 63)...)
	}
	return map[string][]byte{
		"empty":                  {},
		"short header":           {0x12, 0x34, 0x01},
		"header, no question":    header(1, 0x0100, 1, 0, 0, 0),
		"question cut short":     append(header(2, 0x0100, 1, 0, 0, 0), 7, 'b', 'a', 'c'),
		"compression loop":       append(header(3, 0x0100, 1, 0, 0, 0), q([]byte{0xc0, 12}, mdns.TypeA)...),
		"label too long":         append(header(4, 0x0100, 1, 0, 0, 0), q(append([]byte{64}, bytes.Repeat([]byte{'x'}, 64)...), mdns.TypeA)...),
		"two questions":          append(append(header(5, 0x0100, 2, 0, 0, 0), q([]byte{1, 'a', 4, 'm', 'e', 's', 'h', 0}, 1)...), q([]byte{1, 'b', 4, 'm', 'e', 's', 'h', 0}, 1)...),
		"no question":            header(6, 0x0100, 0, 0, 0, 0),
		"oversize, never-ending": oversize,
		"response bit set":       append(header(8, 0x8100, 1, 0, 0, 0), q([]byte{1, 'a', 4, 'm', 'e', 's', 'h', 0}, 1)...),
		"update opcode":          append(header(9, 0x2800, 1, 0, 0, 0), q([]byte{1, 'a', 4, 'm', 'e', 's', 'h', 0}, 1)...),
		"counts lie":             append(header(10, 0x0100, 1, 9, 9, 2), q([]byte{1, 'a', 4, 'm', 'e', 's', 'h', 0}, 1)...),
		"random bytes":           {0xde, 0xad, 0xbe, 0xef, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
}

// checkReply accepts silence or a well-formed error answer; never a crash or a positive answer.
func checkReply(t *testing.T, name string, reply []byte) {
	t.Helper()
	m := new(mdns.Msg)
	if err := m.Unpack(reply); err != nil {
		t.Errorf("%s: reply does not parse: %v", name, err)
		return
	}
	if !m.Response || len(m.Answer) != 0 {
		t.Errorf("%s: want an error response, got %v", name, m)
	}
	switch m.Rcode {
	case mdns.RcodeFormatError, mdns.RcodeNotImplemented, mdns.RcodeRefused:
	default:
		t.Errorf("%s: rcode %s, want FORMERR/NOTIMP/REFUSED", name, mdns.RcodeToString[m.Rcode])
	}
}

func TestMalformedUDP(t *testing.T) {
	table, vips := fixture(t)
	s := startServer(t, Config{MeshAddrs: map[string]string{"default": "127.0.0.1:0"}}, table)
	addr := s.MeshAddr("default")
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for name, pkt := range malformedPackets() {
		if _, err := conn.Write(pkt); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// then a good query: the server is alive and answers it; any reply read
	// before it must be a well-formed error
	good := query("backend.mesh.", mdns.TypeA)
	good.Id = 4242
	b, _ := good.Pack()
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no answer to the good query after malformed ones: %v", err)
		}
		m := new(mdns.Msg)
		if m.Unpack(buf[:n]) == nil && m.Id == 4242 {
			if got := answerAddrs(m); len(got) != 1 || got[0] != vips["default"].Services["backend"].String() {
				t.Errorf("good query after malformed ones: %v", got)
			}
			break
		}
		checkReply(t, "udp reply", buf[:n])
	}
	if n := testutil.ToFloat64(s.malformed); n == 0 {
		t.Error("meshc_dns_malformed_total did not count the malformed packets")
	}
}

func TestMalformedTCP(t *testing.T) {
	table, vips := fixture(t)
	s := startServer(t, Config{MeshAddrs: map[string]string{"default": "127.0.0.1:0"}}, table)
	addr := s.MeshAddr("default")
	for name, pkt := range malformedPackets() {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			frame := binary.BigEndian.AppendUint16(nil, uint16(len(pkt)))
			if _, err := conn.Write(append(frame, pkt...)); err != nil {
				t.Fatal(err)
			}
			// then a good query on the same connection, if the server kept it open
			good := query("backend.mesh.", mdns.TypeA)
			good.Id = 4242
			b, _ := good.Pack()
			_, _ = conn.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...))
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				var l [2]byte
				if _, err := io.ReadFull(conn, l[:]); err != nil {
					return // closed: dropped, fine
				}
				msg := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(conn, msg); err != nil {
					t.Fatalf("short frame: %v", err)
				}
				m := new(mdns.Msg)
				if m.Unpack(msg) == nil && m.Id == 4242 && len(m.Answer) > 0 {
					if got := answerAddrs(m); got[0] != vips["default"].Services["backend"].String() {
						t.Errorf("good query: %v", got)
					}
					return
				}
				checkReply(t, name, msg)
			}
		})
	}
	// a frame announcing more than it sends, then a hang-up; and a 64 KiB frame of junk
	for _, raw := range [][]byte{{0xff, 0xff, 1, 2, 3}, append([]byte{0xff, 0xff}, bytes.Repeat([]byte{0xc0}, 65535)...)} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write(raw)
		conn.Close()
	}
	// still alive
	r := exchange(t, "tcp", addr, "", query("backend.mesh.", mdns.TypeA))
	if got := answerAddrs(r); len(got) != 1 {
		t.Errorf("after junk frames: %v", got)
	}
}
