package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// envoyState is what a running Envoy holds, from its admin interface.
type envoyState struct {
	warming []string          // warming clusters, listeners and secrets
	secrets map[string]string // active secret → version
	hosts   map[string]int    // cluster → hosts
}

func adminGet(ctx context.Context, admin, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func readEnvoyState(ctx context.Context, admin string) (*envoyState, error) {
	b, err := adminGet(ctx, admin, "/config_dump")
	if err != nil {
		return nil, err
	}
	var dump struct {
		Configs []struct {
			Type            string `json:"@type"`
			WarmingClusters []struct {
				Cluster struct {
					Name string `json:"name"`
				} `json:"cluster"`
			} `json:"dynamic_warming_clusters"`
			Listeners []struct {
				Name    string          `json:"name"`
				Warming json.RawMessage `json:"warming_state"`
			} `json:"dynamic_listeners"`
			ActiveSecrets []struct {
				Name    string `json:"name"`
				Version string `json:"version_info"`
			} `json:"dynamic_active_secrets"`
			WarmingSecrets []struct {
				Name string `json:"name"`
			} `json:"dynamic_warming_secrets"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(b, &dump); err != nil {
		return nil, fmt.Errorf("config_dump: %w", err)
	}
	st := &envoyState{secrets: map[string]string{}, hosts: map[string]int{}}
	for _, c := range dump.Configs {
		for _, w := range c.WarmingClusters {
			st.warming = append(st.warming, "cluster "+w.Cluster.Name)
		}
		for _, l := range c.Listeners {
			if len(l.Warming) > 0 {
				st.warming = append(st.warming, "listener "+l.Name)
			}
		}
		for _, s := range c.ActiveSecrets {
			st.secrets[s.Name] = s.Version
		}
		for _, s := range c.WarmingSecrets {
			st.warming = append(st.warming, "secret "+s.Name)
		}
	}
	b, err = adminGet(ctx, admin, "/clusters")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		// <cluster>::<ip:port>::health_flags::healthy
		if parts := strings.Split(l, "::"); len(parts) == 4 && parts[2] == "health_flags" {
			st.hosts[parts[0]]++
		}
	}
	return st, nil
}

// waitEnvoyRuns waits until the Envoy behind admin runs what srv serves for
// node: nothing warming, every EDS cluster with hosts, the served secrets active.
func waitEnvoyRuns(t *testing.T, ctx context.Context, srv *Server, node, admin string) {
	t.Helper()
	var last error
	for {
		last = envoyRuns(ctx, srv, node, admin)
		if last == nil {
			return
		}
		select {
		case <-ctx.Done():
			st, _ := srv.Status(node)
			t.Fatalf("envoy does not run the served config: %v (served %v acked %v)", last, st.Served, st.Acked)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func envoyRuns(ctx context.Context, srv *Server, node, admin string) error {
	res, err := srv.Resources(node)
	if err != nil {
		return err
	}
	st, err := readEnvoyState(ctx, admin)
	if err != nil {
		return err
	}
	if len(st.warming) > 0 {
		return fmt.Errorf("warming: %v", st.warming)
	}
	for name := range res.items(typeEndpoint) {
		if st.hosts[name] == 0 {
			return fmt.Errorf("cluster %s has no hosts", name)
		}
	}
	for name := range res.items(typeSecret) {
		if _, ok := st.secrets[name]; !ok {
			return fmt.Errorf("secret %s not active", name)
		}
	}
	// Envoy keeps a secret's version when its content did not change (the
	// mesh CA); the identity certificate changes with every issue.
	if _, ok := res.get(typeSecret, SecretIdentity); ok && st.secrets[SecretIdentity] != res.Versions[typeSecret] {
		return fmt.Errorf("secret %s at version %q, served %q", SecretIdentity, st.secrets[SecretIdentity], res.Versions[typeSecret])
	}
	return nil
}
