package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/urfave/cli/v2"
)

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:  "delete",
		Usage: "delete a resource the control plane keeps (not one defined in Git)",
		Subcommands: []*cli.Command{{
			Name:      "zone",
			Usage:     "forget a disconnected zone: its dataplanes, ingresses and insight leave the global and every other zone",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{cpFlag()},
			Action: func(c *cli.Context) error {
				args, err := positionalArgs(c)
				if err != nil || len(args) != 1 {
					return cli.Exit("delete zone: give one zone NAME (e.g. `meshc delete zone zone-b --cp http://GLOBAL:5681`)", ExitNoRun)
				}
				cp, err := parseCP(c)
				if err != nil {
					return cli.Exit("delete zone: "+err.Error(), ExitNoRun)
				}
				if err := apiCall(c.Context, http.MethodDelete, cp, "/zones/"+url.PathEscape(args[0]), nil); err != nil {
					return cli.Exit("delete zone: "+err.Error(), ExitInvalid)
				}
				fmt.Fprintf(c.App.Writer, "zone %s deleted\n", args[0])
				return nil
			},
		}},
	}
}

func cpFlag() cli.Flag {
	return &cli.StringFlag{Name: "cp", Value: "http://127.0.0.1:5681", Usage: "the control plane's API `URL`"}
}

func parseCP(c *cli.Context) (*url.URL, error) {
	cp, err := url.Parse(c.String("cp"))
	if err != nil || cp.Host == "" || (cp.Scheme != "http" && cp.Scheme != "https") {
		return nil, fmt.Errorf("--cp %q: want http(s)://HOST:PORT", c.String("cp"))
	}
	return cp, nil
}

// apiCall sends a request to the control plane's API and decodes the JSON answer into out.
func apiCall(ctx context.Context, method string, cp *url.URL, path string, out any) error {
	u := strings.TrimSuffix(cp.String(), "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is the control plane running? check --cp)", method, u, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Title   string `json:"title"`
			Details string `json:"details"`
		}
		if json.Unmarshal(data, &e) == nil && e.Title != "" {
			if e.Details != "" {
				return fmt.Errorf("%d %s (%s)", resp.StatusCode, e.Title, e.Details)
			}
			return fmt.Errorf("%d %s", resp.StatusCode, e.Title)
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
		}
	}
	return nil
}
