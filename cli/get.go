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
		Usage: "list what a control plane knows (zones, zone ingresses, dataplanes)",
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
					var l kds.InventoryList
					return getAndPrint(c, "/zone-ingresses", &l, func(w io.Writer) {
						fmt.Fprintln(w, "ZONE\tNAME\tADDRESS\tADVERTISED\tSERVICES")
						for _, it := range l.Items {
							var r schema.Resource
							if err := r.UnmarshalJSON(it.Resource); err != nil || r.ZoneIngressSpec() == nil {
								fmt.Fprintf(w, "%s\t?\t\t\t(unreadable: %v)\n", it.Zone, err)
								continue
							}
							sp := r.ZoneIngressSpec()
							var svcs []string
							for _, a := range sp.AvailableServices {
								svcs = append(svcs, fmt.Sprintf("%s/%s=%d", a.Mesh, a.Tags[schema.TagService], a.Instances))
							}
							sort.Strings(svcs)
							fmt.Fprintf(w, "%s\t%s\t%s:%d\t%s:%d\t%s\n", it.Zone, r.Name, sp.Networking.Address, sp.Networking.Port,
								dash(sp.Networking.AdvertisedAddress), sp.Networking.AdvertisedPort, dash(strings.Join(svcs, ",")))
						}
					})
				},
			},
			{
				Name:  "dataplanes",
				Usage: "dataplanes of a mesh (at the global: as every zone reports them)",
				Flags: []cli.Flag{cpFlag(), out, &cli.StringFlag{Name: "mesh", Value: "default", Usage: "the `MESH`"}},
				Action: func(c *cli.Context) error {
					var l kds.InventoryList
					return getAndPrint(c, "/meshes/"+url.PathEscape(c.String("mesh"))+"/dataplanes", &l, func(w io.Writer) {
						fmt.Fprintln(w, "ZONE\tMESH\tNAME\tADDRESS\tSERVICES")
						for _, it := range l.Items {
							var r schema.Resource
							if err := r.UnmarshalJSON(it.Resource); err != nil || r.DataplaneSpec() == nil {
								fmt.Fprintf(w, "%s\t?\t?\t\t(unreadable: %v)\n", it.Zone, err)
								continue
							}
							var svcs []string
							for _, in := range r.DataplaneSpec().Networking.Inbound {
								svcs = append(svcs, fmt.Sprintf("%s:%d", in.Tags[schema.TagService], in.Port))
							}
							fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", it.Zone, r.Mesh, r.Name, r.DataplaneSpec().Networking.Address, dash(strings.Join(svcs, ",")))
						}
					})
				},
			},
		},
	}
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
