package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/meshc/meshc/kds"
	"github.com/meshc/meshc/schema"
)

func getCommand() *cli.Command {
	out := &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table, json or yaml"}
	return &cli.Command{
		Name:  "get",
		Usage: "list what a control plane knows (zones, meshes, zone ingresses, dataplanes)",
		Subcommands: []*cli.Command{
			{
				Name:  "zones",
				Usage: "zones known to the global: online, bundle applied, last NACK",
				Flags: []cli.Flag{cpFlag(), out},
				Action: func(c *cli.Context) error {
					var zs []kds.ZoneStatus
					return getAndPrint(c, "/zones", &zs, func(w io.Writer) {
						fmt.Fprintln(w, "NAME\tSTATUS\tBUNDLE\tIN SYNC\tAGENT\tDATAPLANES\tINGRESSES\tCONNECTED\tLAST NACK")
						for _, z := range zs {
							st := "offline"
							switch {
							case !z.Enabled:
								st = "disabled"
							case z.Online:
								st = "online"
							}
							nack := "-"
							if z.LastNACK != nil {
								nack = z.LastNACK.Direction + ": " + z.LastNACK.Reason
							}
							fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%d\t%d\t%s\t%s\n", z.Name, st, dash(z.BundleVersion), z.InSync,
								dash(z.AgentVersion), z.Dataplanes, z.ZoneIngresses, ago(z.ConnectedAt), nack)
						}
					})
				},
			},
			{
				Name:  "zone-ingresses",
				Usage: "every zone's ingresses with their available services",
				Flags: []cli.Flag{cpFlag(), out},
				Action: func(c *cli.Context) error {
					var l itemList
					return getAndPrint(c, "/zone-ingresses", &l, func(w io.Writer) {
						fmt.Fprintln(w, "ZONE\tNAME\tADDRESS\tADVERTISED\tSERVICES")
						for _, raw := range l.Items {
							zone, r, err := itemResource(raw)
							if err != nil || r.ZoneIngressSpec() == nil {
								fmt.Fprintf(w, "%s\t?\t\t\t(unreadable: %v)\n", zone, err)
								continue
							}
							sp := r.ZoneIngressSpec()
							var svcs []string
							for _, a := range sp.AvailableServices {
								svcs = append(svcs, fmt.Sprintf("%s/%s=%d", a.Mesh, a.Tags[schema.TagService], a.Instances))
							}
							sort.Strings(svcs)
							fmt.Fprintf(w, "%s\t%s\t%s:%d\t%s:%d\t%s\n", dash(zone), r.Name, sp.Networking.Address, sp.Networking.Port,
								dash(sp.Networking.AdvertisedAddress), sp.Networking.AdvertisedPort, dash(strings.Join(svcs, ",")))
						}
					})
				},
			},
			{
				Name:  "meshes",
				Usage: "meshes in force (at a zone: from the bundle it serves)",
				Flags: []cli.Flag{cpFlag(), out},
				Action: func(c *cli.Context) error {
					var l itemList
					return getAndPrint(c, "/meshes", &l, func(w io.Writer) {
						fmt.Fprintln(w, "NAME\tMTLS\tLOCALITY-AWARE\tZONE EGRESS")
						for _, raw := range l.Items {
							_, r, err := itemResource(raw)
							if err != nil || r.MeshSpec() == nil {
								fmt.Fprintf(w, "?\t(unreadable: %v)\n", err)
								continue
							}
							ms := r.MeshSpec()
							mtls := "off"
							if ms.MTLS.Enabled() {
								mtls = ms.MTLS.EnabledBackend
							}
							fmt.Fprintf(w, "%s\t%s\t%v\t%v\n", r.Name, mtls, ms.Routing.LocalityAwareLoadBalancing, ms.Routing.ZoneEgress)
						}
					})
				},
			},
			{
				Name:  "dataplanes",
				Usage: "dataplanes of a mesh (at the global: as every zone reports them)",
				Flags: []cli.Flag{cpFlag(), out, &cli.StringFlag{Name: "mesh", Value: "default", Usage: "the `MESH`"}},
				Action: func(c *cli.Context) error {
					var l itemList
					return getAndPrint(c, "/meshes/"+url.PathEscape(c.String("mesh"))+"/dataplanes", &l, func(w io.Writer) {
						fmt.Fprintln(w, "ZONE\tMESH\tNAME\tADDRESS\tSERVICES")
						for _, raw := range l.Items {
							zone, r, err := itemResource(raw)
							if err != nil || r.DataplaneSpec() == nil {
								fmt.Fprintf(w, "%s\t?\t?\t\t(unreadable: %v)\n", zone, err)
								continue
							}
							var svcs []string
							for _, in := range r.DataplaneSpec().Networking.Inbound {
								svcs = append(svcs, fmt.Sprintf("%s:%d", in.Tags[schema.TagService], in.Port))
							}
							fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", dash(zone), r.Mesh, r.Name, r.DataplaneSpec().Networking.Address, dash(strings.Join(svcs, ",")))
						}
					})
				},
			},
		},
	}
}

// itemList is a listing of the API: {total, items}.
type itemList struct {
	Total int               `json:"total"`
	Items []json.RawMessage `json:"items"`
}

// itemResource reads one listed item: a resource as the global's inventory
// ({zone, resource}), a zone's dataplane view ({dataplane}), a zone registry
// entry ({Resource}) or a bare resource. zone is the reporting zone when known.
func itemResource(raw json.RawMessage) (zone string, r schema.Resource, err error) {
	var wrap struct {
		Zone      string          `json:"zone"`
		Resource  json.RawMessage `json:"resource"`
		Dataplane json.RawMessage `json:"dataplane"`
		Entry     json.RawMessage `json:"Resource"`
	}
	body := raw
	if json.Unmarshal(raw, &wrap) == nil {
		for _, b := range []json.RawMessage{wrap.Resource, wrap.Dataplane, wrap.Entry} {
			if len(b) > 0 && b[0] == '{' {
				body = b
				break
			}
		}
	}
	if err := r.UnmarshalJSON(body); err != nil {
		return wrap.Zone, r, err
	}
	zone = wrap.Zone
	if zone == "" {
		if sp := r.ZoneIngressSpec(); sp != nil {
			zone = sp.Zone
		}
		if sp := r.DataplaneSpec(); sp != nil && len(sp.Networking.Inbound) > 0 {
			zone = sp.Networking.Inbound[0].Tags[schema.TagZone]
		}
	}
	return zone, r, nil
}

// getAndPrint fetches path into v and prints it as -o says (table via table).
func getAndPrint(c *cli.Context, path string, v any, table func(io.Writer)) error {
	format := c.String("output")
	if format != "table" && format != "json" && format != "yaml" {
		return cli.Exit(fmt.Sprintf("get: -o %q: want table, json or yaml", format), ExitNoRun)
	}
	cp, err := parseCP(c)
	if err != nil {
		return cli.Exit("get: "+err.Error(), ExitNoRun)
	}
	if err := apiCall(c.Context, "GET", cp, path, v); err != nil {
		if path == "/zones" && strings.Contains(err.Error(), "404") {
			err = fmt.Errorf("%w (zones are listed by the global: point --cp at the global's API)", err)
		}
		return cli.Exit("get: "+err.Error(), ExitInvalid)
	}
	switch format {
	case "json":
		return printJSON(c, v)
	case "yaml":
		b, err := json.Marshal(v)
		if err == nil {
			b, err = yaml.JSONToYAML(b)
		}
		if err != nil {
			return cli.Exit("get: "+err.Error(), ExitInvalid)
		}
		_, err = c.App.Writer.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ago(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return time.Since(*t).Round(time.Second).String() + " ago"
}
