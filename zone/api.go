package zone

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/meshc/meshc/api"
	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
	"github.com/meshc/meshc/store"
)

// maxBody caps an API request body.
const maxBody = 1 << 20

// dataplaneView is how GET shows a registered proxy: its zone and resource
// (the shape the global's inventory uses too) and its xDS status.
type dataplaneView struct {
	Zone       string          `json:"zone"`
	Resource   schema.Resource `json:"resource"`
	Online     bool            `json:"online"`
	Connected  *time.Time      `json:"lastConnected,omitempty"`
	Disconnect *time.Time      `json:"lastDisconnected,omitempty"`
	Generation int64           `json:"generation"`
	ModifiedAt time.Time       `json:"modifiedAt"`
	// XDS is the xDS server's view of the node (versions, ACKs, last NACK).
	XDS any `json:"xds,omitempty"`
}

func (a *Agent) viewOf(e store.Entry) dataplaneView {
	v := dataplaneView{Zone: a.opts.Zone, Resource: e.Resource, Online: e.Status.Online, Generation: e.Generation, ModifiedAt: e.ModifiedAt}
	if !e.Status.ConnectedAt.IsZero() {
		t := e.Status.ConnectedAt
		v.Connected = &t
	}
	if !e.Status.DisconnectedAt.IsZero() {
		t := e.Status.DisconnectedAt
		v.Disconnect = &t
	}
	if sr, ok := a.pub.(StatusReporter); ok && e.Resource.Type == schema.TypeDataplane {
		if st, ok := sr.Status(store.NodeID(e.Resource.Mesh, e.Resource.Name)); ok {
			v.XDS = st
		}
	}
	return v
}

type listBody[T any] struct {
	Total int `json:"total"`
	Items []T `json:"items"`
}

// RegisterAPI adds the zone's HTTP API to srv: the dataplane registry, zone
// ingresses/egresses, served xDS config, dataplane tokens (loopback only) and
// the refusal of policy writes (only the global writes policies).
func (a *Agent) RegisterAPI(srv *api.Server) {
	m := srv.Mux
	m.HandleFunc("GET /meshes", a.listMeshes)
	m.HandleFunc("GET /meshes/{mesh}", a.getMesh)
	m.HandleFunc("GET /meshes/{mesh}/dataplanes", a.listDataplanes)
	m.HandleFunc("GET /meshes/{mesh}/dataplanes/{name}", a.getDataplane)
	m.HandleFunc("GET /meshes/{mesh}/dataplanes/{name}/xds", a.getDataplaneXDS)
	m.HandleFunc("PUT /meshes/{mesh}/dataplanes/{name}", a.putDataplane)
	m.HandleFunc("DELETE /meshes/{mesh}/dataplanes/{name}", a.deleteDataplane)
	m.HandleFunc("GET /zone-ingresses", a.listOf(schema.TypeZoneIngress))
	m.HandleFunc("PUT /zone-ingresses/{name}", a.putZoneProxy(schema.TypeZoneIngress))
	m.HandleFunc("DELETE /zone-ingresses/{name}", a.deleteZoneProxy(schema.TypeZoneIngress))
	m.HandleFunc("GET /zone-egresses", a.listOf(schema.TypeZoneEgress))
	m.HandleFunc("PUT /zone-egresses/{name}", a.putZoneProxy(schema.TypeZoneEgress))
	m.HandleFunc("DELETE /zone-egresses/{name}", a.deleteZoneProxy(schema.TypeZoneEgress))
	m.HandleFunc("POST /tokens/dataplane", a.issueToken)
	m.HandleFunc("GET /dataplane-bootstrap", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, a.opts.XDS)
	})
	for _, method := range []string{"PUT", "POST", "DELETE", "PATCH"} {
		m.HandleFunc(method+" /meshes/{mesh}/{kind}/{name}", refuseGlobalWrite)
		m.HandleFunc(method+" /meshes/{mesh}", refuseGlobalWrite)
	}
}

func refuseGlobalWrite(w http.ResponseWriter, r *http.Request) {
	api.WriteError(w, http.StatusMethodNotAllowed, "read-only at a zone",
		fmt.Sprintf("%s %s: meshes and policies are written in Git and applied by the global control plane; a zone only receives them. Commit the change to the mesh repository instead.", r.Method, r.URL.Path))
}

func (a *Agent) listMeshes(w http.ResponseWriter, _ *http.Request) {
	b := a.Bundle()
	var items []schema.Resource
	if b != nil {
		for _, r := range b.OfType(schema.TypeMesh) {
			items = append(items, *r)
		}
	}
	api.WriteJSON(w, http.StatusOK, listBody[schema.Resource]{Total: len(items), Items: nonNil(items)})
}

func (a *Agent) getMesh(w http.ResponseWriter, r *http.Request) {
	m := a.mesh(r.PathValue("mesh"))
	if m == nil {
		notFoundMesh(w, r.PathValue("mesh"))
		return
	}
	api.WriteJSON(w, http.StatusOK, m)
}

func notFoundMesh(w http.ResponseWriter, mesh string) {
	api.WriteError(w, http.StatusNotFound, "mesh not found",
		fmt.Sprintf("mesh %q is not defined at this zone (meshes come from the global's bundle or the --dir of a standalone zone)", mesh))
}

func (a *Agent) listDataplanes(w http.ResponseWriter, r *http.Request) {
	mesh := r.PathValue("mesh")
	if a.mesh(mesh) == nil {
		notFoundMesh(w, mesh)
		return
	}
	es := a.reg.List(schema.TypeDataplane, mesh)
	items := make([]dataplaneView, len(es))
	for i := range es {
		items[i] = a.viewOf(es[i])
	}
	api.WriteJSON(w, http.StatusOK, listBody[dataplaneView]{Total: len(items), Items: items})
}

func (a *Agent) getDataplane(w http.ResponseWriter, r *http.Request) {
	k := schema.Key{Type: schema.TypeDataplane, Mesh: r.PathValue("mesh"), Name: r.PathValue("name")}
	e, ok := a.reg.Get(k)
	if !ok {
		api.WriteError(w, http.StatusNotFound, "dataplane not found", fmt.Sprintf("no dataplane %q in mesh %q at zone %q", k.Name, k.Mesh, a.opts.Zone))
		return
	}
	api.WriteJSON(w, http.StatusOK, a.viewOf(e))
}

func (a *Agent) getDataplaneXDS(w http.ResponseWriter, r *http.Request) {
	mesh, name := r.PathValue("mesh"), r.PathValue("name")
	if _, ok := a.reg.Get(schema.Key{Type: schema.TypeDataplane, Mesh: mesh, Name: name}); !ok {
		api.WriteError(w, http.StatusNotFound, "dataplane not found", fmt.Sprintf("no dataplane %q in mesh %q at zone %q", name, mesh, a.opts.Zone))
		return
	}
	out, err := a.ServedConfig(store.NodeID(mesh, name))
	if err != nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no config yet", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func (a *Agent) putDataplane(w http.ResponseWriter, r *http.Request) {
	mesh, name := r.PathValue("mesh"), r.PathValue("name")
	if a.mesh(mesh) == nil {
		notFoundMesh(w, mesh)
		return
	}
	if !a.authorize(w, r, mesh, name) {
		return
	}
	res, ok := decodeBody(w, r, schema.TypeDataplane, mesh, name)
	if !ok {
		return
	}
	a.put(w, res)
}

func (a *Agent) deleteDataplane(w http.ResponseWriter, r *http.Request) {
	mesh, name := r.PathValue("mesh"), r.PathValue("name")
	if !a.authorize(w, r, mesh, name) {
		return
	}
	if !a.reg.Delete(schema.Key{Type: schema.TypeDataplane, Mesh: mesh, Name: name}) {
		api.WriteError(w, http.StatusNotFound, "dataplane not found", fmt.Sprintf("no dataplane %q in mesh %q at zone %q", name, mesh, a.opts.Zone))
		return
	}
	a.log.Info("dataplane deregistered", "mesh", mesh, "name", name)
	api.WriteJSON(w, http.StatusOK, map[string]string{"deleted": mesh + "/" + name})
}

func (a *Agent) put(w http.ResponseWriter, res schema.Resource) {
	_, exists := a.reg.Get(res.Key())
	changed, err := a.reg.Put(res)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, "invalid resource", err.Error())
		return
	}
	e, _ := a.reg.Get(res.Key())
	code := http.StatusCreated
	if exists {
		code = http.StatusOK
	}
	if changed { // periodic re-registrations of an unchanged proxy are not news
		a.log.Info("registered", "type", res.Type, "mesh", res.Mesh, "name", res.Name, "generation", e.Generation)
	}
	api.WriteJSON(w, code, e.Resource)
}

func (a *Agent) listOf(t string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		es := a.reg.List(t, "")
		items := make([]dataplaneView, len(es))
		for i := range es {
			items[i] = a.viewOf(es[i])
		}
		api.WriteJSON(w, http.StatusOK, listBody[dataplaneView]{Total: len(items), Items: items})
	}
}

func (a *Agent) putZoneProxy(t string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if !a.authorizeAdmin(w, r) {
			return
		}
		res, ok := decodeBody(w, r, t, "", name)
		if !ok {
			return
		}
		a.put(w, res)
	}
}

func (a *Agent) deleteZoneProxy(t string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.authorizeAdmin(w, r) {
			return
		}
		name := r.PathValue("name")
		if !a.reg.Delete(schema.Key{Type: t, Name: name}) {
			api.WriteError(w, http.StatusNotFound, "not found", fmt.Sprintf("no %s %q at zone %q", t, name, a.opts.Zone))
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"deleted": name})
	}
}

// decodeBody reads and validates a resource body of type t whose mesh and
// name must match the path. It writes a 400 naming the field on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, t, mesh, name string) (schema.Resource, bool) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, "cannot read body", err.Error())
		return schema.Resource{}, false
	}
	if len(data) > maxBody {
		api.WriteError(w, http.StatusRequestEntityTooLarge, "body too large", fmt.Sprintf("the body is over %d bytes", maxBody))
		return schema.Resource{}, false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		api.WriteError(w, http.StatusBadRequest, "empty body", fmt.Sprintf("send a %s as YAML or JSON", t), api.ErrorCause{Field: "body", Message: "empty"})
		return schema.Resource{}, false
	}
	res, errs := schema.DecodeResource("request body", data)
	if errs.HasErrors() {
		causes := make([]api.ErrorCause, 0, len(errs))
		for _, e := range errs {
			if e.Severity == schema.SeverityWarning {
				continue
			}
			causes = append(causes, api.ErrorCause{Field: fieldOf(e), Message: e.Msg})
		}
		api.WriteError(w, http.StatusBadRequest, "invalid "+t, errs.Error(), causes...)
		return schema.Resource{}, false
	}
	var causes []api.ErrorCause
	if res.Type != t {
		causes = append(causes, api.ErrorCause{Field: "type", Message: fmt.Sprintf("is %q; this path takes a %s", res.Type, t)})
	}
	if res.Mesh != mesh {
		causes = append(causes, api.ErrorCause{Field: "mesh", Message: fmt.Sprintf("is %q but the path says %q", res.Mesh, mesh)})
	}
	if res.Name != name {
		causes = append(causes, api.ErrorCause{Field: "name", Message: fmt.Sprintf("is %q but the path says %q", res.Name, name)})
	}
	if len(causes) > 0 {
		msgs := make([]string, len(causes))
		for i, c := range causes {
			msgs[i] = c.Field + " " + c.Message
		}
		api.WriteError(w, http.StatusBadRequest, "invalid "+t, strings.Join(msgs, "; "), causes...)
		return schema.Resource{}, false
	}
	return res, true
}

func fieldOf(e schema.Error) string {
	if e.Path != "" {
		// The loader may prefix the definition (#Dataplane.networking…).
		if strings.HasPrefix(e.Path, "#") {
			if _, rest, ok := strings.Cut(e.Path, "."); ok {
				return rest
			}
		}
		return e.Path
	}
	return e.Pos.String()
}

// authorize checks the dataplane token (Authorization: Bearer …) for mesh/name unless --dev.
func (a *Agent) authorize(w http.ResponseWriter, r *http.Request, mesh, name string) bool {
	if a.opts.Dev {
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		api.WriteError(w, http.StatusUnauthorized, "dataplane token required",
			fmt.Sprintf("send `Authorization: Bearer <token>`; get a token for %s/%s with `meshc dp token --mesh %s --name %s` on the zone host (or run the zone with --dev)", mesh, name, mesh, name))
		return false
	}
	if err := a.tokens.Verify(tok, mesh, name, a.now()); err != nil {
		api.WriteError(w, http.StatusForbidden, "dataplane token refused", err.Error())
		return false
	}
	return true
}

// authorizeAdmin allows zone-proxy registration and token issuance from the
// zone's own host (loopback) or in --dev.
func (a *Agent) authorizeAdmin(w http.ResponseWriter, r *http.Request) bool {
	if a.opts.Dev || isLoopback(r.RemoteAddr) {
		return true
	}
	api.WriteError(w, http.StatusForbidden, "admin only", "this endpoint is served to clients on the zone's own host (loopback) only")
	return false
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type tokenRequest struct {
	Mesh     string          `json:"mesh"`
	Name     string          `json:"name"`
	ValidFor schema.Duration `json:"validFor"`
}

func (a *Agent) issueToken(w http.ResponseWriter, r *http.Request) {
	if !a.authorizeAdmin(w, r) {
		return
	}
	var req tokenRequest
	dec := jsonDecoder(io.LimitReader(r.Body, maxBody))
	if err := dec.Decode(&req); err != nil {
		api.WriteError(w, http.StatusBadRequest, "invalid token request", err.Error()+` (want {"mesh": M, "name": N, "validFor": "24h"})`)
		return
	}
	if req.Mesh == "" || req.Name == "" {
		api.WriteError(w, http.StatusBadRequest, "invalid token request", "mesh and name are required",
			api.ErrorCause{Field: "mesh", Message: "required"}, api.ErrorCause{Field: "name", Message: "required"})
		return
	}
	zoneProxy := req.Mesh == compiler.IngressNodePrefix || req.Mesh == compiler.EgressNodePrefix
	if a.mesh(req.Mesh) == nil && !zoneProxy {
		notFoundMesh(w, req.Mesh)
		return
	}
	if a.tokens == nil {
		api.WriteError(w, http.StatusConflict, "no tokens in --dev", errors.New("the zone runs with --dev and accepts dataplanes without tokens").Error())
		return
	}
	tok, err := a.tokens.Issue(req.Mesh, req.Name, req.ValidFor.Duration, a.now())
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, "invalid token request", err.Error())
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"token": tok})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func jsonDecoder(r io.Reader) *json.Decoder {
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	return d
}
