package reconciler

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// GitAuth holds credentials for a Git remote. HTTP(S) remotes use basic auth
// (Username/Password) or a token; SSH remotes use a private key file and
// verify the server against known_hosts (never skipped).
type GitAuth struct {
	Username string
	Password string
	// Token is sent as the basic-auth password (username Username, or "git"),
	// the form GitHub, GitLab, Gitea and Bitbucket accept for access tokens.
	Token string
	// SSHKeyFile is a PEM private key; SSHKeyPassphrase decrypts it if needed.
	SSHKeyFile       string
	SSHKeyPassphrase string
	// KnownHostsFile lists the server keys to trust (default: $SSH_KNOWN_HOSTS or ~/.ssh/known_hosts).
	KnownHostsFile string
}

// method returns the go-git auth method for rawURL (nil: none, or credentials in the URL).
func (a GitAuth) method(rawURL string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bad Git URL: %w", err)
	}
	switch ep.Protocol {
	case "http", "https":
		if a.SSHKeyFile != "" {
			return nil, errors.New("an SSH key was given for an http(s) remote; use a username/password or token")
		}
		switch {
		case a.Token != "":
			user := a.Username
			if user == "" {
				user = "git"
			}
			return &githttp.BasicAuth{Username: user, Password: a.Token}, nil
		case a.Username != "" || a.Password != "":
			return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
		}
		return nil, nil
	case "ssh":
		if a.Token != "" || a.Password != "" {
			return nil, errors.New("a password or token was given for an ssh remote; use an SSH key file")
		}
		user := a.Username
		if user == "" {
			user = ep.User
		}
		if user == "" {
			user = "git"
		}
		var auth *gitssh.PublicKeys
		if a.SSHKeyFile != "" {
			auth, err = gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, a.SSHKeyPassphrase)
			if err != nil {
				return nil, fmt.Errorf("SSH key %s: %w", a.SSHKeyFile, err)
			}
		} else {
			return nil, errors.New("an ssh remote needs an SSH key file (--ssh-key-file)")
		}
		var files []string
		if a.KnownHostsFile != "" {
			files = append(files, a.KnownHostsFile)
		}
		cb, err := gitssh.NewKnownHostsCallback(files...)
		if err != nil {
			return nil, fmt.Errorf("known_hosts %s: %w (give --ssh-known-hosts)", strings.Join(files, ","), err)
		}
		auth.HostKeyCallback = cb
		return auth, nil
	case "file":
		if a != (GitAuth{}) {
			return nil, errors.New("credentials were given for a local repository")
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unsupported Git URL scheme %q (use a path, file://, http(s):// or ssh://)", ep.Protocol)
}
