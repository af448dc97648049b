package api

import (
	"html/template"
	"net/http"
	"net/url"
	"time"
)

// uiBundle, uiZone, uiMesh are the parts of GET /bundle, /zones and /meshes the page shows.
type uiBundle struct {
	Source    string
	Version   string
	Commit    string
	AppliedAt *time.Time
	Resources int
	Restored  bool
	Errors    []struct {
		Pos struct {
			File      string
			Line, Col int
		}
		Message string
	}
	Conditions []struct{ Type, Status, Reason, Message string }
	Fetch      map[string]any
}

type uiZone struct {
	Name          string
	Enabled       bool
	Online        bool
	ConnectedAt   *time.Time
	BundleVersion string
	InSync        bool
	LastNACK      *struct{ Direction, Reason string } `json:"lastNack"`
	Dataplanes    int
	ZoneIngresses int
	Warnings      []string
}

type uiMesh struct {
	Name     string
	Services []ServiceInsight
}

type uiPage struct {
	Title  string
	Now    time.Time
	Bundle *uiBundle
	Zones  []uiZone
	HasZ   bool
	Meshes []uiMesh
	Errors []string
}

// RegisterUI adds the web UI at GET /: the bundle in force and the last
// attempt's errors, zones with their applied version and NACKs, and each
// mesh's services. It renders what the JSON API of the same server says.
func (s *Server) RegisterUI(title string) {
	s.Mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		p := uiPage{Title: title, Now: time.Now().UTC()}
		var b uiBundle
		if ok, err := getJSON(s.Mux, "/bundle", &b); err != nil {
			p.Errors = append(p.Errors, err.Error())
		} else if ok {
			p.Bundle = &b
		}
		if ok, err := getJSON(s.Mux, "/zones", &p.Zones); err != nil {
			p.Errors = append(p.Errors, err.Error())
		} else {
			p.HasZ = ok
		}
		var meshes struct {
			Items []struct{ Name string }
		}
		if _, err := getJSON(s.Mux, "/meshes", &meshes); err != nil {
			p.Errors = append(p.Errors, err.Error())
		}
		for _, m := range meshes.Items {
			var si struct{ Items []ServiceInsight }
			if _, err := getJSON(s.Mux, "/meshes/"+url.PathEscape(m.Name)+"/service-insights", &si); err != nil {
				p.Errors = append(p.Errors, err.Error())
			}
			p.Meshes = append(p.Meshes, uiMesh{Name: m.Name, Services: si.Items})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := uiTemplate.Execute(w, p); err != nil {
			s.log.Error("render web UI", "err", err)
		}
	})
}

var uiTemplate = template.Must(template.New("ui").Funcs(template.FuncMap{
	"when": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format(time.RFC3339)
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>meshc — {{.Title}}</title>
<meta http-equiv="refresh" content="10">
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.ok{color:#176b2c}.bad{color:#b00020}.muted{color:#777}code{font-size:13px}
</style></head><body>
<h1>meshc — {{.Title}}</h1>
<p class="muted">{{.Now.Format "2006-01-02 15:04:05"}} UTC · refreshes every 10 s · JSON: <a href="/bundle">/bundle</a>{{if .HasZ}} · <a href="/zones">/zones</a>{{end}} · <a href="/metrics">/metrics</a></p>
{{range .Errors}}<p class="bad">{{.}}</p>{{end}}
{{with .Bundle}}
<h2>Bundle</h2>
<table>
<tr><th>version</th><td><code>{{if .Version}}{{.Version}}{{else}}none yet{{end}}</code>{{if .Restored}} <span class="muted">(restored from state dir)</span>{{end}}</td></tr>
<tr><th>commit</th><td><code>{{.Commit}}</code></td></tr>
<tr><th>applied</th><td>{{when .AppliedAt}}</td></tr>
<tr><th>resources</th><td>{{.Resources}}</td></tr>
<tr><th>source</th><td>{{.Source}}</td></tr>
</table>
<table><tr><th>condition</th><th>status</th><th>reason</th><th>message</th></tr>
{{range .Conditions}}<tr><td>{{.Type}}</td><td class="{{if eq .Status "True"}}{{if eq .Type "Stalled"}}bad{{else}}ok{{end}}{{end}}">{{.Status}}</td><td>{{.Reason}}</td><td>{{.Message}}</td></tr>{{end}}
</table>
{{if .Errors}}<h3 class="bad">Errors in the last attempt (nothing served changed)</h3><ul>
{{range .Errors}}<li><code>{{.Pos.File}}:{{.Pos.Line}}:{{.Pos.Col}}</code>: {{.Message}}</li>{{end}}</ul>{{end}}
{{end}}
{{if .HasZ}}
<h2>Zones</h2>
<table><tr><th>zone</th><th>state</th><th>connected</th><th>bundle applied</th><th>in sync</th><th>last NACK</th><th>dataplanes</th><th>ingresses</th></tr>
{{range .Zones}}<tr><td>{{.Name}}</td>
<td class="{{if and .Enabled .Online}}ok{{else}}bad{{end}}">{{if not .Enabled}}disabled{{else if .Online}}online{{else}}offline{{end}}</td>
<td>{{when .ConnectedAt}}</td><td><code>{{.BundleVersion}}</code></td><td>{{.InSync}}</td>
<td class="bad">{{with .LastNACK}}{{.Direction}}: {{.Reason}}{{end}}</td><td>{{.Dataplanes}}</td><td>{{.ZoneIngresses}}</td></tr>
{{range .Warnings}}<tr><td></td><td colspan="7" class="bad">{{.}}</td></tr>{{end}}{{end}}
</table>
{{end}}
{{range .Meshes}}
<h2>Mesh {{.Name}}</h2>
{{if .Services}}<table><tr><th>service</th><th>dataplanes</th><th>online</th><th>zones</th><th>status</th></tr>
{{range .Services}}<tr><td>{{.Service}}</td><td>{{.Dataplanes}}</td><td>{{.Online}}</td><td>{{range $z, $n := .Zones}}{{$z}}: {{$n}} {{end}}</td><td class="{{if eq .Status "online"}}ok{{else}}bad{{end}}">{{.Status}}</td></tr>{{end}}
</table>{{else}}<p class="muted">no dataplanes</p>{{end}}
{{end}}
</body></html>
`))
