package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
	"github.com/meshc/meshc/xds"
)

// startServices starts zone z's example applications (small HTTP servers in
// this process), registers their Dataplanes and, with Envoy, runs their
// sidecars and the zone's ingress.
func (d *demo) startServices(ctx context.Context, cancel context.CancelFunc, z *demoZone) error {
	for i, version := range z.backends {
		name := fmt.Sprintf("backend-%s-%d", z.name, i+1)
		msg := fmt.Sprintf("backend %s in %s (%s)\n", version, z.name, name)
		app, err := d.app(ctx, cancel, name, msg)
		if err != nil {
			return err
		}
		inbound, err := freeLoopbackPort()
		if err != nil {
			return err
		}
		dp := fmt.Sprintf(`type: Dataplane
mesh: default
name: %s
networking:
  address: 127.0.0.1
  inbound:
  - port: %d
    servicePort: %d
    tags:
      kuma.io/service: backend
      kuma.io/protocol: http
      version: %s
`, name, inbound, app, version)
		if err := d.register(ctx, cancel, z, name, dp); err != nil {
			return err
		}
	}
	if z.withWeb {
		name := "web-" + z.name
		app, err := d.app(ctx, cancel, name, "web in "+z.name+"\n")
		if err != nil {
			return err
		}
		inbound, err := freeLoopbackPort()
		if err != nil {
			return err
		}
		out, err := freeLoopbackPort()
		if err != nil {
			return err
		}
		dp := fmt.Sprintf(`type: Dataplane
mesh: default
name: %s
networking:
  address: 127.0.0.1
  inbound:
  - port: %d
    servicePort: %d
    tags:
      kuma.io/service: web
      kuma.io/protocol: http
  outbound:
  - port: %d
    tags:
      kuma.io/service: backend
`, name, inbound, app, out)
		if err := d.register(ctx, cancel, z, name, dp); err != nil {
			return err
		}
		if d.envoy != "" {
			z.webPort = out
		}
	}
	if d.envoy == "" {
		return nil
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	ing := fmt.Sprintf(`type: ZoneIngress
name: %s-ingress
networking:
  address: 127.0.0.1
  port: %d
  advertisedAddress: 127.0.0.1
  advertisedPort: %d
`, z.name, port, port)
	res, errs := schema.DecodeResource("demo ZoneIngress", []byte(ing))
	if errs.HasErrors() {
		return fmt.Errorf("demo ingress: %w", errs)
	}
	if _, err := z.rt.agent.Registry().Put(res); err != nil {
		return err
	}
	return d.runEnvoy(ctx, cancel, z, compiler.IngressNodePrefix, res.Name)
}

// app serves msg on a free loopback port until ctx ends; it returns the port.
func (d *demo) app(ctx context.Context, cancel context.CancelFunc, name, msg string) (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(msg))
	})}
	d.spawn(ctx, cancel, "app "+name, func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
			defer c()
			_ = srv.Shutdown(sctx)
		}()
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			return err
		}
		return nil
	})
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// register validates and registers a Dataplane in z and, with Envoy, runs its sidecar.
func (d *demo) register(ctx context.Context, cancel context.CancelFunc, z *demoZone, name, yaml string) error {
	res, errs := schema.DecodeResource("demo dataplane "+name, []byte(yaml))
	if errs.HasErrors() {
		return fmt.Errorf("demo dataplane %s: %w", name, errs)
	}
	if _, err := z.rt.agent.Registry().Put(res); err != nil {
		return err
	}
	if d.envoy == "" {
		return nil
	}
	return d.runEnvoy(ctx, cancel, z, res.Mesh, name)
}

// runEnvoy runs an Envoy for node <mesh>.<name> against z's xDS until ctx
// ends (then SIGTERM, and a kill after 5 s). Its log goes to the state dir.
func (d *demo) runEnvoy(ctx context.Context, cancel context.CancelFunc, z *demoZone, mesh, name string) error {
	admin, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	js, err := xds.BootstrapJSON(xds.BootstrapOptions{
		Mesh: mesh, Name: name, XDSAddress: z.rt.xdsLn.Addr().String(),
		AdminAddress: fmt.Sprintf("127.0.0.1:%d", admin),
	})
	if err != nil {
		return err
	}
	base := filepath.Join(d.dir, z.name, "envoy-"+name)
	if err := os.WriteFile(base+".json", js, 0o600); err != nil {
		return err
	}
	logf, err := os.Create(base + ".log")
	if err != nil {
		return err
	}
	cmd := exec.Command(d.envoy, "-c", base+".json", "--disable-hot-restart", "--log-level", "warning",
		"--drain-time-s", "1", "--parent-shutdown-time-s", "2")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start envoy for %s: %w", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	d.spawn(ctx, cancel, "envoy "+name, func(ctx context.Context) error {
		select {
		case err := <-done:
			return fmt.Errorf("exited: %v (log: %s.log)", err, base)
		case <-ctx.Done():
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		return nil
	})
	return nil
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
