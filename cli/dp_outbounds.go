package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	"github.com/meshc/meshc/compiler"
)

// printOutbounds tells the user of `meshc dp run` where applications reach
// other services, since meshc installs no transparent proxy: the Dataplane's
// explicit outbounds (127.0.0.1:<port>) and the mesh's VIP outbounds (from
// the zone's GET /meshes/{mesh}/vips), which answer only when the VIPs are
// routed to this host. A zone without DNS/VIPs just has no VIP lines.
func printOutbounds(ctx context.Context, w io.Writer, s *dpSpec) {
	var dp struct {
		Networking struct {
			Outbound []struct {
				Address string            `json:"address"`
				Port    int               `json:"port"`
				Tags    map[string]string `json:"tags"`
			} `json:"outbound"`
		} `json:"networking"`
	}
	_ = yaml.Unmarshal(s.body, &dp) // loadDPSpec already parsed it
	var vips struct {
		Items []compiler.VIPListener `json:"items"`
	}
	vipErr := s.call(ctx, http.MethodGet, "/meshes/"+s.mesh+"/vips", nil, &vips)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "outbounds of %s/%s (no transparent proxy: applications connect to these):\n", s.mesh, s.name)
	for _, o := range dp.Networking.Outbound {
		addr := o.Address
		if addr == "" {
			addr = "127.0.0.1"
		}
		fmt.Fprintf(tw, "  %s:%d\t%s\texplicit\n", addr, o.Port, o.Tags["kuma.io/service"])
	}
	for _, v := range vips.Items {
		fmt.Fprintf(tw, "  %s:%d\t%s\tVIP %s\n", v.Address, v.Port, v.Service, v.Host)
	}
	_ = tw.Flush()
	switch {
	case vipErr != nil && strings.Contains(vipErr.Error(), "404"):
		fmt.Fprintln(w, "  (the zone serves no VIPs: start it with --dns-addr)")
	case vipErr != nil:
		fmt.Fprintf(w, "  (VIP outbounds unknown: %v)\n", vipErr)
	case len(vips.Items) > 0:
		fmt.Fprintln(w, "  VIP outbounds answer only when the VIPs reach this host (a transparent proxy, or `ip addr add <VIP>/32 dev lo`);")
		fmt.Fprintln(w, "  resolve the names with the zone's DNS (--dns-addr).")
	}
}
