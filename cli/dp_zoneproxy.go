package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/xds"
)

// zoneProxyFlags are the flags of `meshc dp bootstrap|run --type ingress`.
func zoneProxyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "type", Value: "dataplane", Usage: "what to run: dataplane (a sidecar), ingress (the zone's ingress; --name, --ingress-addr) or egress (the zone's egress; --name, --egress-addr)"},
		&cli.StringFlag{Name: "ingress-addr", Value: "0.0.0.0:10001", Usage: "with --type ingress: where the ingress listens (host:port)"},
		&cli.StringFlag{Name: "egress-addr", Value: "127.0.0.1:10002", Usage: "with --type egress: where the egress listens (host:port; the zone's proxies connect to it)"},
		&cli.StringFlag{Name: "advertised-addr", Usage: "with --type ingress: where other zones reach it (host:port; the host may be a name; default --ingress-addr, with 127.0.0.1 for 0.0.0.0)"},
	}
}

func isZoneProxy(c *cli.Context) bool {
	return c.String("type") != "" && c.String("type") != "dataplane"
}

// zoneProxySpec is the zone ingress or egress `dp` registers and runs.
type zoneProxySpec struct {
	dp     *dpSpec
	kind   string // ingress | egress
	path   string // its API path: /zone-ingresses/{name} or /zone-egresses/{name}
	prefix string // its node id prefix
	body   []byte // the ZoneIngress / ZoneEgress resource
}

func loadZoneProxy(c *cli.Context) (*zoneProxySpec, error) {
	t := c.String("type")
	if t != "ingress" && t != "egress" {
		return nil, fmt.Errorf("--type %q: want dataplane, ingress or egress", t)
	}
	name := c.String("name")
	if name == "" {
		return nil, fmt.Errorf("--type %s needs --name (the Zone%s's name)", t, strings.ToUpper(t[:1])+t[1:])
	}
	cp, err := url.Parse(c.String("cp"))
	if err != nil || cp.Host == "" || (cp.Scheme != "http" && cp.Scheme != "https") {
		return nil, fmt.Errorf("--cp %q: want the zone's API URL, like http://127.0.0.1:5681", c.String("cp"))
	}
	// The xDS token of a zone proxy (a zone not run with --dev wants one):
	// `meshc dp token --mesh _zone-ingress --name NAME` on the zone's host.
	token := ""
	if f := c.String("token-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read --token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	zp, err := zoneProxyOf(c, t, name, cp)
	if err != nil {
		return nil, err
	}
	zp.dp.token = token
	return zp, nil
}

func zoneProxyOf(c *cli.Context, t, name string, cp *url.URL) (*zoneProxySpec, error) {
	if t == "egress" {
		host, port, err := splitAddr(c.String("egress-addr"), "--egress-addr")
		if err != nil {
			return nil, err
		}
		body, err := yaml.Marshal(map[string]any{"type": "ZoneEgress", "name": name, "networking": map[string]any{"address": host, "port": port}})
		if err != nil {
			return nil, err
		}
		return &zoneProxySpec{dp: &dpSpec{mesh: compiler.EgressNodePrefix, name: name, cp: cp}, kind: t,
			path: "/zone-egresses/" + name, prefix: compiler.EgressNodePrefix, body: body}, nil
	}
	host, port, err := splitAddr(c.String("ingress-addr"), "--ingress-addr")
	if err != nil {
		return nil, err
	}
	advHost, advPort := host, port
	if host == "0.0.0.0" || host == "::" || host == "" {
		advHost = "127.0.0.1"
	}
	if a := c.String("advertised-addr"); a != "" {
		if advHost, advPort, err = splitAddr(a, "--advertised-addr"); err != nil {
			return nil, err
		}
	}
	res := map[string]any{
		"type": "ZoneIngress", "name": name,
		"networking": map[string]any{"address": host, "port": port, "advertisedAddress": advHost, "advertisedPort": advPort},
	}
	body, err := yaml.Marshal(res)
	if err != nil {
		return nil, err
	}
	return &zoneProxySpec{dp: &dpSpec{mesh: compiler.IngressNodePrefix, name: name, cp: cp}, kind: t,
		path: "/zone-ingresses/" + name, prefix: compiler.IngressNodePrefix, body: body}, nil
}

func splitAddr(addr, flag string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: want host:port", flag, addr)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 || n > 65535 {
		return "", 0, fmt.Errorf("%s %q: bad port", flag, addr)
	}
	return h, n, nil
}

// bootstrap writes the ingress's Envoy bootstrap: node id `_zone-ingress.<name>`.
func (z *zoneProxySpec) bootstrap(ctx context.Context, c *cli.Context) ([]byte, error) {
	var info xdsInfo
	if err := z.dp.call(ctx, http.MethodGet, "/dataplane-bootstrap", nil, &info); err != nil {
		return nil, err
	}
	addr := c.String("xds-addr")
	if addr == "" {
		addr = net.JoinHostPort(z.dp.cp.Hostname(), fmt.Sprint(info.XDSPort))
	}
	return xds.BootstrapJSON(xds.BootstrapOptions{
		Mesh: z.prefix, Name: z.dp.name, Cluster: "zone-" + z.kind,
		XDSAddress: addr, TLS: info.TLS, CACertPEM: []byte(info.CACert), Token: z.dp.token,
		AdminAddress: c.String("admin-addr"), Metadata: map[string]string{"meshc.io/proxy-type": z.kind},
	})
}

func zoneProxyBootstrap(c *cli.Context) error {
	z, err := loadZoneProxy(c)
	if err != nil {
		return cli.Exit("dp bootstrap: "+err.Error(), ExitNoRun)
	}
	js, err := z.bootstrap(c.Context, c)
	if err != nil {
		return cli.Exit("dp bootstrap: "+err.Error(), ExitNoRun)
	}
	if out := c.String("output"); out != "" {
		return os.WriteFile(out, js, 0o600)
	}
	_, err = c.App.Writer.Write(append(js, '\n'))
	return err
}

// zoneProxyRun registers the ZoneIngress (PUT /zone-ingresses/{name}) or
// ZoneEgress (PUT /zone-egresses/{name}), runs
// Envoy against the zone's xDS and deregisters on exit.
func zoneProxyRun(c *cli.Context, log *slog.Logger) error {
	z, err := loadZoneProxy(c)
	if err != nil {
		return cli.Exit("dp run: "+err.Error(), ExitNoRun)
	}
	envoy, err := findEnvoy(c.String("envoy-binary"))
	if err != nil {
		return cli.Exit("dp run: "+err.Error(), ExitNoRun)
	}
	path := z.path
	if err := z.dp.call(c.Context, http.MethodPut, path, z.body, nil); err != nil {
		return cli.Exit("dp run: register: "+err.Error(), ExitNoRun)
	}
	log.Info("zone "+z.kind+" registered", "name", z.dp.name, "cp", z.dp.cp.String())
	leave := sync.OnceFunc(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := z.dp.call(dctx, http.MethodDelete, path, nil, nil); err != nil {
			log.Error("deregister failed", "err", err)
		} else {
			log.Info("zone "+z.kind+" deregistered", "name", z.dp.name)
		}
	})
	defer leave()
	js, err := z.bootstrap(c.Context, c)
	if err != nil {
		return cli.Exit("dp run: "+err.Error(), ExitNoRun)
	}
	return runEnvoy(c, log, envoy, js, z.kind+"-"+z.dp.name, func(ctx context.Context) error {
		return z.dp.call(ctx, http.MethodPut, path, z.body, nil)
	}, leave)
}
