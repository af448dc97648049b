package zone_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// waitEnvoy waits until web-1's config matches re both as the zone serves it
// (meshc inspect's endpoint) and as web-1's Envoy holds it (admin config_dump).
func waitEnvoy(t *testing.T, cp string, admin int, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	for _, url := range []string{cp + "/meshes/default/dataplanes/web-1/xds", fmt.Sprintf("http://127.0.0.1:%d/config_dump", admin)} {
		eventually(t, 20*time.Second, url+" matching "+re, func() error {
			_, body, err := get(context.Background(), http.DefaultClient, url)
			if err != nil {
				return err
			}
			if !rx.MatchString(body) {
				return fmt.Errorf("not there yet")
			}
			return nil
		})
	}
}

// webCertSerial returns the serial number of web-1's SPIFFE certificate as its Envoy holds it.
func webCertSerial(t *testing.T, admin int) string {
	t.Helper()
	var certs struct {
		Certificates []struct {
			CertChain []struct {
				SerialNumber    string `json:"serial_number"`
				SubjectAltNames []struct {
					URI string `json:"uri"`
				} `json:"subject_alt_names"`
			} `json:"cert_chain"`
		} `json:"certificates"`
	}
	if err := getJSON(fmt.Sprintf("http://127.0.0.1:%d/certs", admin), &certs); err != nil {
		t.Fatal(err)
	}
	for _, c := range certs.Certificates {
		for _, cc := range c.CertChain {
			for _, san := range cc.SubjectAltNames {
				if san.URI == "spiffe://default/web" {
					return cc.SerialNumber
				}
			}
		}
	}
	t.Fatalf("web-1's Envoy holds no certificate for spiffe://default/web")
	return ""
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func dataplaneInboundPort(t *testing.T, root, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`- port: (\d+)`).FindSubmatch(b)
	var n int
	fmt.Sscan(string(m[1]), &n)
	return n
}
