package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// inventoryFlag is `meshc diff --inventory FILE|URL`.
func inventoryFlag() cli.Flag {
	return &cli.StringFlag{Name: "inventory", Usage: "dataplane inventory `FILE|URL` (a zone's or the global's API, or a JSON/YAML file): list the proxies whose config changes"}
}

// inventoryChanges plans every dataplane of the inventory at src with both
// bundles and returns the proxies whose plan changes (per zone, so each
// proxy is planned with its own zone's locality).
func inventoryChanges(ctx context.Context, src string, from, to *compiler.Bundle) ([]compiler.ProxyChange, error) {
	byZone, err := loadInventory(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("--inventory %s: %w", src, err)
	}
	zones := make([]string, 0, len(byZone))
	for z := range byZone {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	var out []compiler.ProxyChange
	for _, z := range zones {
		cs, err := compiler.DiffInventory(from, to, compiler.Inventory{Zone: z, Dataplanes: byZone[z]})
		if err != nil {
			return nil, fmt.Errorf("--inventory %s: zone %q: %w", src, z, err)
		}
		out = append(out, cs...)
	}
	return out, nil
}

// loadInventory reads Dataplanes, grouped by zone, from a file or an API.
// Accepted: the API's list ({"items": [{"zone", "resource"}]}), a JSON array
// or YAML stream of Dataplane resources, or one Dataplane. A URL may name a
// listing (…/meshes/M/dataplanes) or a control plane (every mesh's listing).
func loadInventory(ctx context.Context, src string) (map[string][]schema.Resource, error) {
	if u, err := url.Parse(src); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return fetchInventory(ctx, u)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	return parseInventory(data)
}

func fetchInventory(ctx context.Context, u *url.URL) (map[string][]schema.Resource, error) {
	get := func(path string) ([]byte, error) {
		v := *u
		v.Path = path
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.String(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s: %s", v.String(), resp.Status, strings.TrimSpace(string(b)))
		}
		return b, nil
	}
	if strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/dataplanes") {
		b, err := get(u.Path)
		if err != nil {
			return nil, err
		}
		return parseInventory(b)
	}
	base := strings.TrimSuffix(u.Path, "/")
	b, err := get(base + "/meshes")
	if err != nil {
		return nil, fmt.Errorf("list meshes: %w (give a …/meshes/MESH/dataplanes URL instead)", err)
	}
	meshes, err := meshNames(b)
	if err != nil {
		return nil, err
	}
	out := map[string][]schema.Resource{}
	for _, m := range meshes {
		b, err := get(base + "/meshes/" + url.PathEscape(m) + "/dataplanes")
		if err != nil {
			return nil, err
		}
		inv, err := parseInventory(b)
		if err != nil {
			return nil, fmt.Errorf("mesh %s: %w", m, err)
		}
		for z, rs := range inv {
			out[z] = append(out[z], rs...)
		}
	}
	return out, nil
}

// meshNames reads GET /meshes: items that are Mesh resources or {resource: Mesh}.
func meshNames(b []byte) ([]string, error) {
	var l struct {
		Items []struct {
			Name     string `json:"name"`
			Resource struct {
				Name string `json:"name"`
			} `json:"resource"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("GET /meshes: %w", err)
	}
	var out []string
	for _, it := range l.Items {
		if it.Name != "" {
			out = append(out, it.Name)
		} else if it.Resource.Name != "" {
			out = append(out, it.Resource.Name)
		}
	}
	return out, nil
}

func parseInventory(data []byte) (map[string][]schema.Resource, error) {
	out := map[string][]schema.Resource{}
	add := func(zone string, raw json.RawMessage, where string) error {
		var r schema.Resource
		if err := r.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if r.Type != schema.TypeDataplane {
			return nil // ingresses and other kinds are not planned here
		}
		if r.Mesh == "" || r.Name == "" {
			return fmt.Errorf("%s: a Dataplane needs mesh and name", where)
		}
		if zone == "" {
			zone = zoneOfDataplane(r)
		}
		out[zone] = append(out[zone], r)
		return nil
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(trimmed, &arr); err != nil {
			return nil, err
		}
		for i, raw := range arr {
			if err := add("", raw, fmt.Sprintf("item %d", i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for i, doc := range splitYAMLDocs(data) {
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		var list struct {
			Items []struct {
				Zone     string          `json:"zone"`
				Resource json.RawMessage `json:"resource"`
			} `json:"items"`
		}
		if err := json.Unmarshal(j, &list); err == nil && list.Items != nil {
			for k, it := range list.Items {
				raw := it.Resource
				if len(raw) == 0 {
					raw = mustRaw(j, k)
				}
				if err := add(it.Zone, raw, fmt.Sprintf("document %d item %d", i+1, k)); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := add("", j, fmt.Sprintf("document %d", i+1)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// mustRaw returns items[k] of a list document (an item that is itself a resource).
func mustRaw(doc []byte, k int) json.RawMessage {
	var l struct {
		Items []json.RawMessage `json:"items"`
	}
	_ = json.Unmarshal(doc, &l)
	if k < len(l.Items) {
		return l.Items[k]
	}
	return nil
}

// zoneOfDataplane is the kuma.io/zone of a dataplane's first inbound ("" when untagged).
func zoneOfDataplane(r schema.Resource) string {
	for _, in := range r.DataplaneSpec().Networking.Inbound {
		if z := in.Tags[schema.TagZone]; z != "" {
			return z
		}
	}
	return ""
}

func splitYAMLDocs(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(data, []byte("\n---")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}
