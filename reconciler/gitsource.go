package reconciler

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/meshc/meshc/schema"
)

// GitOptions configures a Git source.
type GitOptions struct {
	// URL of the remote: a path or file:// URL, http(s)://, ssh:// or scp-like user@host:path.
	URL string
	// Ref is a branch or tag name (or a full "refs/..." name); default "main".
	Ref string
	// Path is the sub-directory of the repository holding the mesh definitions ("" = root).
	Path string
	Auth GitAuth
	// StorageDir holds the bare repository fetched into (objects only, no
	// checkout). Empty: a temporary directory removed by Close.
	StorageDir string
	// MaxFileSize caps the size of one file read from a commit (default DefaultMaxFileSize).
	MaxFileSize int64
	// Timeout bounds one fetch (default 2m).
	Timeout time.Duration
}

// GitSource fetches one ref of a Git remote with go-git into a bare
// repository and reads each commit's tree straight from Git objects.
type GitSource struct {
	opts    GitOptions
	auth    transport.AuthMethod
	repo    *git.Repository
	remote  *git.Remote
	tempDir string
	dir     string
	cache   *loadCache // used only by Load, from the reconciler's goroutine
	// repackAfter is the number of packfiles (one per fetch) that triggers a
	// repack into one, so a long-running global's lookups stay fast.
	repackAfter int
}

// NewGitSource opens (or creates) the bare repository it fetches into. It does
// not touch the network.
func NewGitSource(opts GitOptions) (*GitSource, error) {
	if opts.URL == "" {
		return nil, errors.New("git source: no URL (give --git URL)")
	}
	if opts.Ref == "" {
		opts.Ref = "main"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	opts.Path = strings.Trim(path.Clean("/"+opts.Path), "/")
	auth, err := opts.Auth.method(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("git source %s: %w", redactURL(opts.URL), err)
	}
	g := &GitSource{opts: opts, auth: auth, cache: newLoadCache(), repackAfter: 64}
	dir := opts.StorageDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "meshc-git-"); err != nil {
			return nil, fmt.Errorf("git source: %w", err)
		}
		g.tempDir = dir
	}
	if g.repo, err = openBare(dir); err != nil {
		// A storage left broken (e.g. by a crash mid-write) is only a cache: start afresh.
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			return nil, fmt.Errorf("git source: open %s: %w", dir, err)
		}
		if g.repo, err = openBare(dir); err != nil {
			return nil, fmt.Errorf("git source: open %s: %w", dir, err)
		}
	}
	g.dir = dir
	g.remote = git.NewRemote(g.repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{opts.URL}})
	return g, nil
}

func openBare(dir string) (*git.Repository, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Objects over 1 MiB are read lazily from disk, so the size of a blob can
	// be checked without loading it.
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(64*cache.MiByte),
		filesystem.Options{LargeObjectThreshold: 1 << 20})
	repo, err := git.Init(st, nil)
	if errors.Is(err, git.ErrRepositoryAlreadyExists) {
		repo, err = git.Open(st, nil)
	}
	return repo, err
}

// Close removes the temporary storage, if any.
func (g *GitSource) Close() error {
	if g.tempDir != "" {
		return os.RemoveAll(g.tempDir)
	}
	return nil
}

func (g *GitSource) String() string {
	s := redactURL(g.opts.URL) + "@" + g.opts.Ref
	if g.opts.Path != "" {
		s += ":" + g.opts.Path
	}
	return s
}

// Fetch lists the remote's refs, fetches the configured ref if its commit is
// not already stored, and returns a snapshot of that commit's tree.
func (g *GitSource) Fetch(ctx context.Context) (*Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	refName, hash, err := g.resolveRemote(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := g.repo.Storer.EncodedObject(plumbing.AnyObject, hash); err != nil {
		spec := config.RefSpec(fmt.Sprintf("+%s:%s", refName, refName))
		err := g.remote.FetchContext(ctx, &git.FetchOptions{
			RefSpecs: []config.RefSpec{spec}, Auth: g.auth, Tags: git.NoTags, Force: true,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, g.fetchError(fmt.Errorf("fetch %s: %w", refName.Short(), err))
		}
		ref, err := g.repo.Storer.Reference(refName)
		if err != nil {
			return nil, g.fetchError(fmt.Errorf("fetch %s: %w", refName.Short(), err))
		}
		hash = ref.Hash()
		if err := g.maybeRepack(); err != nil {
			// Only an optimization: the objects are all there.
			return nil, &FetchError{Reason: ReasonFetchFailed, Err: fmt.Errorf("git %s: repack the local copy: %w", g, err)}
		}
	}
	commit, err := g.commitOf(hash)
	if err != nil {
		return nil, &FetchError{Reason: ReasonFetchFailed, Err: fmt.Errorf("git %s: %w", g, err)}
	}
	return g.snapshot(commit), nil
}

// maybeRepack packs every fetched object into one packfile once fetches have
// left repackAfter of them; objects no ref reaches any more (force-pushes) go.
func (g *GitSource) maybeRepack() error {
	pos, ok := g.repo.Storer.(storer.PackedObjectStorer)
	if !ok {
		return nil
	}
	packs, err := pos.ObjectPacks()
	if err != nil || len(packs) < g.repackAfter {
		return err
	}
	if err := g.repo.RepackObjects(&git.RepackConfig{}); err != nil {
		return err
	}
	// The storage caches the index of the packs it deleted: open it afresh.
	repo, err := openBare(g.dir)
	if err != nil {
		return err
	}
	g.repo = repo
	g.remote = git.NewRemote(repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{g.opts.URL}})
	return nil
}

// resolveRemote finds the configured ref on the remote: full name, or a branch, then a tag.
func (g *GitSource) resolveRemote(ctx context.Context) (plumbing.ReferenceName, plumbing.Hash, error) {
	refs, err := g.remote.ListContext(ctx, &git.ListOptions{Auth: g.auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return "", plumbing.ZeroHash, &FetchError{Reason: ReasonRefNotFound,
			Err: fmt.Errorf("git %s: the remote repository is empty; push a commit to %s", g, g.opts.Ref)}
	}
	if err != nil {
		return "", plumbing.ZeroHash, g.fetchError(fmt.Errorf("list refs: %w", err))
	}
	candidates := []plumbing.ReferenceName{plumbing.NewBranchReferenceName(g.opts.Ref), plumbing.NewTagReferenceName(g.opts.Ref)}
	if strings.HasPrefix(g.opts.Ref, "refs/") {
		candidates = []plumbing.ReferenceName{plumbing.ReferenceName(g.opts.Ref)}
	}
	byName := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, r := range refs {
		byName[r.Name()] = r.Hash()
	}
	for _, c := range candidates {
		if h, ok := byName[c]; ok {
			return c, h, nil
		}
	}
	return "", plumbing.ZeroHash, &FetchError{Reason: ReasonRefNotFound,
		Err: fmt.Errorf("git %s: no branch or tag %q on the remote (deleted? check --ref)", g, g.opts.Ref)}
}

func (g *GitSource) fetchError(err error) error {
	reason := ReasonFetchFailed
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		reason = ReasonAuthFailed
	}
	return &FetchError{Reason: reason, Err: fmt.Errorf("git %s: %w", g, err)}
}

// commitOf returns the commit at hash, peeling an annotated tag.
func (g *GitSource) commitOf(hash plumbing.Hash) (*object.Commit, error) {
	obj, err := g.repo.Object(plumbing.AnyObject, hash)
	if err != nil {
		return nil, fmt.Errorf("read object %s: %w", hash, err)
	}
	switch o := obj.(type) {
	case *object.Commit:
		return o, nil
	case *object.Tag:
		return o.Commit()
	}
	return nil, fmt.Errorf("%s is a %s, not a commit", hash, obj.Type())
}

func (g *GitSource) snapshot(c *object.Commit) *Snapshot {
	display, sub := "", g.opts.Path
	if sub != "" {
		display = sub + "/"
	}
	return &Snapshot{
		Revision: c.Hash.String(),
		Describe: fmt.Sprintf("%s@sha1:%s", g.opts.Ref, c.Hash.String()[:12]),
		Load: func() ([]schema.Resource, schema.Errors) {
			fsys, err := CommitFS(g.repo, c, sub, g.opts.MaxFileSize)
			if err != nil {
				return nil, schema.Errors{schema.Errorf(schema.Pos{File: sub}, "%v", err)}
			}
			return g.cache.load(fsys, display)
		},
	}
}

// ErrPathNotFound: the sub-directory asked for is not in the commit.
var ErrPathNotFound = errors.New("path not found")

// CommitFS returns the tree of commit c (or of its sub-directory sub) as a TreeFS.
func CommitFS(repo *git.Repository, c *object.Commit, sub string, maxSize int64) (*TreeFS, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", c.Hash.String()[:12], err)
	}
	if sub = strings.Trim(path.Clean("/"+sub), "/"); sub != "" {
		if tree, err = tree.Tree(sub); err != nil {
			return nil, fmt.Errorf("%w: directory %q not found in commit %s", ErrPathNotFound, sub, c.Hash.String()[:12])
		}
	}
	return NewTreeFS(repo.Storer, tree, c.Committer.When, maxSize), nil
}

// redactURL hides a password embedded in a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
