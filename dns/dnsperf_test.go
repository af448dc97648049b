package dns

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/meshc/meshc/compiler"
)

// BenchmarkDNSPerf runs Debian's dnsperf (optional; skipped when absent)
// against the server with the generated 10,000-service zone: 10 s over UDP,
// 4 clients, up to 100 queries outstanding. It reports dnsperf's queries/s
// and average latency (dnsperf prints no percentiles). One iteration is one
// dnsperf run; use -benchtime 1x.
func BenchmarkDNSPerf(b *testing.B) {
	bin, err := exec.LookPath("dnsperf")
	if err != nil {
		b.Skip("dnsperf is not installed (Debian package dnsperf)")
	}
	meshes, vips := generatedZone(b, 10000)
	s := startServer(b, Config{Addr: "127.0.0.1:0"}, NewTable(vips, meshes, nil))
	var lines []string
	for _, svc := range meshes[0].Services {
		for _, n := range compiler.ServiceDNSNames(svc.Name) {
			lines = append(lines, n+" A")
		}
	}
	data := filepath.Join(b.TempDir(), "queries.txt")
	if err := os.WriteFile(data, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(s.Addr())
	qps := regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	avg := regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
	lost := regexp.MustCompile(`Queries lost:\s+(\d+)`)
	for b.Loop() {
		out, err := exec.Command(bin, "-s", host, "-p", port, "-d", data, "-l", "10", "-c", "4", "-q", "100").CombinedOutput()
		if err != nil {
			b.Fatalf("dnsperf: %v\n%s", err, out)
		}
		q, a, l := qps.FindSubmatch(out), avg.FindSubmatch(out), lost.FindSubmatch(out)
		if q == nil || a == nil || l == nil {
			b.Fatalf("unexpected dnsperf output:\n%s", out)
		}
		qv, _ := strconv.ParseFloat(string(q[1]), 64)
		av, _ := strconv.ParseFloat(string(a[1]), 64)
		lv, _ := strconv.Atoi(string(l[1]))
		b.ReportMetric(qv, "queries/s")
		b.ReportMetric(av*1e6, "avg-µs")
		b.ReportMetric(float64(lv), "lost")
	}
}
