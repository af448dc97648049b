package cli

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshc/meshc/install"
)

func installCommand() *cli.Command {
	return &cli.Command{
		Name:  "install",
		Usage: "print what it takes to run meshc as a service",
		Subcommands: []*cli.Command{{
			Name:  "control-plane",
			Usage: "Kubernetes manifests or a systemd unit for the global or a zone agent",
			Description: `Prints to stdout; pipe it to kubectl apply -f - or save the unit file.
  meshc install control-plane --mode global --git https://git.example.com/mesh.git
  meshc install control-plane --mode zone --name zone-a --global grpcs://global.example.com:5685 --daemonset
  meshc install control-plane --mode zone --name zone-a --global grpcs://global:5685 --target systemd`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "mode", Required: true, Usage: "global or zone"},
				&cli.StringFlag{Name: "target", Value: install.TargetKubernetes, Usage: "kubernetes or systemd"},
				&cli.StringFlag{Name: "namespace", Value: "meshc-system", Usage: "Kubernetes namespace"},
				&cli.StringFlag{Name: "image", Value: "ghcr.io/meshc/meshc:latest", Usage: "container image"},
				&cli.BoolFlag{Name: "daemonset", Usage: "zone agent as a DaemonSet (one per node) instead of a Deployment"},
				&cli.StringFlag{Name: "binary", Value: "/usr/local/bin/meshc", Usage: "meshc's path on the VM (systemd)"},
				&cli.StringFlag{Name: "git", Usage: "global: Git remote `URL` of the mesh repository"},
				&cli.StringFlag{Name: "ref", Value: "main", Usage: "global: branch or tag"},
				&cli.StringFlag{Name: "path", Usage: "global: sub-directory of the repository"},
				&cli.DurationFlag{Name: "poll", Value: 15 * time.Second, Usage: "global: poll interval"},
				&cli.BoolFlag{Name: "webhook-secret", Usage: "global: read a webhook secret (a Kubernetes Secret or a credential file)"},
				&cli.StringFlag{Name: "name", Usage: "zone: the zone's name"},
				&cli.StringFlag{Name: "global", Usage: "zone: the global's KDS `URL` (grpcs://HOST:5685)"},
			},
			Action: func(c *cli.Context) error {
				out, err := install.Render(install.Options{
					Mode: c.String("mode"), Target: c.String("target"), Namespace: c.String("namespace"),
					Image: c.String("image"), DaemonSet: c.Bool("daemonset"), Binary: c.String("binary"),
					GitURL: c.String("git"), Ref: c.String("ref"), Path: c.String("path"), Poll: c.Duration("poll"),
					WebhookSecret: c.Bool("webhook-secret"), Zone: c.String("name"), GlobalURL: c.String("global"),
				})
				if err != nil {
					return cli.Exit(fmt.Sprintf("meshc install control-plane: %v", err), ExitNoRun)
				}
				_, err = c.App.Writer.Write(out)
				return err
			},
		}},
	}
}
