package pki

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// CA files inside a state directory: <dir>/meshes/<mesh>/ca.crt and ca.key (0600).
func caPaths(dir, mesh string) (certPath, keyPath string) {
	d := filepath.Join(dir, "meshes", mesh)
	return filepath.Join(d, "ca.crt"), filepath.Join(d, "ca.key")
}

// SaveCA writes ca's certificate and key under dir (atomically, key mode 0600).
func SaveCA(dir string, ca *CA) error {
	cp, kp := caPaths(dir, ca.Mesh)
	if err := WriteFileAtomic(kp, ca.KeyPEM, 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(cp, ca.CertPEM, 0o644)
}

// LoadCA reads the CA of mesh persisted under dir. It returns an error
// satisfying errors.Is(err, fs.ErrNotExist) when none was saved.
func LoadCA(dir, mesh string) (*CA, error) {
	cp, kp := caPaths(dir, mesh)
	certPEM, err := os.ReadFile(cp)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA of mesh %q: %w", mesh, err)
	}
	keyPEM, err := os.ReadFile(kp)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA of mesh %q: %w", mesh, err)
	}
	ca, err := ParseCA(mesh, certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w (files %s, %s; delete both to generate a new CA)", err, cp, kp)
	}
	return ca, nil
}

// LoadOrCreateCA returns the CA of mesh persisted under dir, generating and
// saving one with opts when there is none. created says which happened. An
// expired persisted CA is an error (rotate it by deleting the files).
func LoadOrCreateCA(dir, mesh string, opts CAOptions, now time.Time) (ca *CA, created bool, err error) {
	ca, err = LoadCA(dir, mesh)
	if err == nil {
		if now.After(ca.Cert.NotAfter) {
			cp, _ := caPaths(dir, mesh)
			return nil, false, fmt.Errorf("pki: CA of mesh %q in %s expired at %s; delete it to generate a new one", mesh, cp, ca.Cert.NotAfter.Format(time.RFC3339))
		}
		return ca, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	ca, err = NewCA(mesh, opts, now)
	if err != nil {
		return nil, false, err
	}
	if err := SaveCA(dir, ca); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

// LoadOrCreateServerCert returns the TLS server certificate persisted as
// <dir>/<name>.crt/.key, creating a self-signed one for hosts when absent or
// expired. It is what the zone's xDS (and the global's KDS) serve.
func LoadOrCreateServerCert(dir, name string, hosts []string, now time.Time) (tls.Certificate, []byte, error) {
	cp, kp := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	certPEM, err1 := os.ReadFile(cp)
	keyPEM, err2 := os.ReadFile(kp)
	if err1 == nil && err2 == nil {
		if c, err := ParseCertPEM(certPEM); err == nil && now.Before(c.NotAfter) {
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return tls.Certificate{}, nil, fmt.Errorf("pki: %s/%s: %w (delete them to generate new ones)", cp, kp, err)
			}
			return pair, certPEM, nil
		}
	}
	c, err := SelfSigned(hosts, 0, now)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	if err := WriteFileAtomic(kp, c.KeyPEM, 0o600); err != nil {
		return tls.Certificate{}, nil, err
	}
	if err := WriteFileAtomic(cp, c.CertPEM, 0o644); err != nil {
		return tls.Certificate{}, nil, err
	}
	pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("pki: load generated server certificate: %w", err)
	}
	return pair, c.CertPEM, nil
}

// WriteFileAtomic writes data to path via a temporary file and rename, creating
// parent directories (0700).
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pki: create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, perm)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("pki: write %s: %w", path, werr)
	}
	return nil
}
