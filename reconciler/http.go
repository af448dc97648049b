package reconciler

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshc/meshc/api"
	"github.com/meshc/meshc/schema"
)

// SignatureHeader carries the webhook's HMAC, GitHub's convention:
// "sha256=" + hex(HMAC-SHA256(secret, body)). Gitea and GitLab-compatible
// senders can be configured to send it.
const SignatureHeader = "X-Hub-Signature-256"

// maxWebhookBody bounds a webhook body (GitHub caps payloads at 25 MB).
const maxWebhookBody = 25 << 20

// Handlers serves the global's reconciler API.
type Handlers struct {
	r        *Reconciler
	secret   []byte
	webhooks *prometheus.CounterVec
}

// Register adds GET /bundle and POST /hooks/git to mux and the webhook
// counter to reg (may be nil). With a secret, the webhook requires a valid
// X-Hub-Signature-256; without one, any POST triggers a fetch (the fetch only
// reads the configured remote, so this is safe but lets anyone cause fetches).
func (r *Reconciler) Register(mux *http.ServeMux, reg prometheus.Registerer, secret []byte) *Handlers {
	h := &Handlers{r: r, secret: secret, webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshc_reconciler_webhooks_total",
		Help: "Webhook requests by result: accepted, bad_signature, bad_request.",
	}, []string{"result"})}
	if reg != nil {
		reg.MustRegister(h.webhooks)
	}
	if len(secret) == 0 {
		r.log.Warn("webhook POST /hooks/git accepts unsigned requests (set --webhook-secret-file)")
	}
	mux.HandleFunc("GET /bundle", h.bundle)
	mux.HandleFunc("GET /meshes", h.meshes)
	mux.HandleFunc("POST /hooks/git", h.hook)
	return h
}

// meshes lists the Mesh resources of the bundle in force.
func (h *Handlers) meshes(w http.ResponseWriter, _ *http.Request) {
	items := []schema.Resource{}
	if b := h.r.Current(); b != nil {
		for _, m := range b.OfType(schema.TypeMesh) {
			items = append(items, *m)
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"total": len(items), "items": items})
}

// bundle serves the status; ?resources=true adds the bundle itself.
func (h *Handlers) bundle(w http.ResponseWriter, req *http.Request) {
	st := h.r.Status()
	if req.URL.Query().Get("resources") == "true" {
		if b := h.r.Current(); b != nil {
			st.Bundle = b
		}
	}
	api.WriteJSON(w, http.StatusOK, st)
}

// hook verifies the signature, then schedules a fetch and answers 202 at once.
func (h *Handlers) hook(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxWebhookBody))
	if err != nil {
		h.webhooks.WithLabelValues("bad_request").Inc()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			api.WriteError(w, http.StatusRequestEntityTooLarge, "webhook body too large", "the body must be at most 25 MB")
			return
		}
		api.WriteError(w, http.StatusBadRequest, "cannot read webhook body", err.Error())
		return
	}
	if len(h.secret) > 0 {
		if msg := verifySignature(h.secret, body, req.Header.Get(SignatureHeader)); msg != "" {
			h.webhooks.WithLabelValues("bad_signature").Inc()
			h.r.log.Warn("webhook rejected", "remote", req.RemoteAddr, "why", msg)
			api.WriteError(w, http.StatusUnauthorized, "webhook signature invalid", msg)
			return
		}
	}
	h.webhooks.WithLabelValues("accepted").Inc()
	h.r.log.Info("webhook: fetch scheduled", "remote", req.RemoteAddr, "event", req.Header.Get("X-GitHub-Event"))
	h.r.Trigger()
	api.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "fetch scheduled"})
}

// verifySignature checks header against HMAC-SHA256(secret, body) in constant
// time; it returns "" when valid, else what is wrong.
func verifySignature(secret, body []byte, header string) string {
	if header == "" {
		return "missing " + SignatureHeader + " header (sha256=<hex HMAC-SHA256 of the body>)"
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return SignatureHeader + " must start with sha256="
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return SignatureHeader + " is not hex"
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return "signature does not match the body and the configured secret"
	}
	return ""
}

// Sign returns the X-Hub-Signature-256 value for body (for senders and tests).
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
