package cmdtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// summaryRE is the last line of text and github output.
var summaryRE = regexp.MustCompile(`^(\d+) resources? in (\d+) files?, (\d+) errors?(, (\d+) warnings?)?$`)

func TestValidateExamples(t *testing.T) {
	t.Parallel()
	r := run(t, root(), "validate", "examples")
	if r.code != 0 {
		t.Fatalf("meshc validate examples: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 1 {
		t.Errorf("valid repo should print only the summary, got:\n%s", r.stdout)
	}
	m := summaryRE.FindStringSubmatch(lines[len(lines)-1])
	if m == nil || m[3] != "0" {
		t.Fatalf("summary line %q", lines[len(lines)-1])
	}
	if n, _ := strconv.Atoi(m[1]); n < 20 {
		t.Errorf("examples: %s resources, want the whole example repo (>= 20)", m[1])
	}
}

func TestValidateDefaultsToCurrentDirectory(t *testing.T) {
	t.Parallel()
	r := run(t, filepath.Join(root(), "examples"), "validate")
	if r.code != 0 || !strings.Contains(r.stdout, "0 errors") {
		t.Fatalf("meshc validate in examples/: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// invalidRepos lists testdata/invalid/*.
func invalidRepos(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root(), "testdata", "invalid"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) < 30 {
		t.Fatalf("only %d invalid repos under testdata/invalid, want at least 30", len(names))
	}
	return names
}

// prepare returns the directory to run in and the repo argument for an
// invalid repo. Two repos need what should not be committed: a 10 MB file,
// and a symlink that leaves the repo; they are built in a temporary copy.
func prepare(t *testing.T, name string) (dir string) {
	t.Helper()
	src := filepath.Join(root(), "testdata", "invalid")
	switch name {
	case "large-file":
		dir = t.TempDir()
		copyDir(t, filepath.Join(src, name), filepath.Join(dir, name))
		var b strings.Builder
		b.WriteString("# An accidentally committed dump: 10 MB of YAML.\n")
		for b.Len() < 10<<20 {
			b.WriteString("# 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n")
		}
		writeFile(t, filepath.Join(dir, name, "dump.yaml"), b.String())
		return dir
	case "symlink-out-of-repo":
		dir = t.TempDir()
		copyDir(t, filepath.Join(src, name), filepath.Join(dir, name))
		writeFile(t, filepath.Join(dir, "outside.yaml"), "type: Mesh\nname: outside\n")
		if err := os.Symlink("../outside.yaml", filepath.Join(dir, name, "linked.yaml")); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return src
}

func TestValidateInvalidRepos(t *testing.T) {
	t.Parallel()
	for _, name := range invalidRepos(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := prepare(t, name)
			r := run(t, dir, "validate", name)
			if r.code != 1 {
				t.Errorf("exit %d, want 1 (invalid)\nstdout:\n%sstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if r.stderr != "" {
				t.Errorf("stderr should be empty, got %q", r.stderr)
			}
			checkTextReport(t, name, r.stdout)
			// A temporary copy's path differs on every run.
			out := strings.ReplaceAll(r.stdout, dir, "$TMPDIR")
			golden(t, filepath.Join(root(), "testdata", "invalid", name, "expected.txt"), out)
		})
	}
}

// checkTextReport checks the shape of a text report: one diagnostic a line,
// each placed in a file of the repo, and a summary that counts them.
func checkTextReport(t *testing.T, repo, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	m := summaryRE.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last line %q is not a summary", lines[len(lines)-1])
	}
	posRE := regexp.MustCompile(`^` + regexp.QuoteMeta(repo) + `/[^:]+(:\d+(:\d+)?)?: (warning: )?\S`)
	errs, warns := 0, 0
	for _, l := range lines[:len(lines)-1] {
		if !posRE.MatchString(l) {
			t.Errorf("diagnostic without a place in the repo: %q", l)
		}
		if strings.Contains(l, ": warning: ") {
			warns++
		} else {
			errs++
		}
	}
	if errs == 0 {
		t.Errorf("an invalid repo must report at least one error")
	}
	if strconv.Itoa(errs) != m[3] || (warns > 0 && strconv.Itoa(warns) != m[5]) {
		t.Errorf("summary %q does not count %d errors and %d warnings", m[0], errs, warns)
	}
}

func TestValidateSeveralPaths(t *testing.T) {
	t.Parallel()
	// Several paths are one repo: the examples split by directory validate
	// as they do together.
	r := run(t, root(), "validate", "examples/meshes", "examples/default", "examples/payments/")
	if r.code != 0 || !strings.HasSuffix(r.stdout, " 0 errors\n") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A bad file beside a good repo: the error names the file as given.
	r = run(t, root(), "validate", "examples", "testdata/invalid/bad-duration/timeouts.yaml")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "testdata/invalid/bad-duration/timeouts.yaml:14:27: ") {
		t.Errorf("exit %d, want 1 and the error at the file as given:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestValidateEmptyDirectoryWarns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docs", "README.md"), "# not a mesh repo\n")
	r := run(t, dir, "validate", "docs")
	want := "docs: warning: no mesh resources found (looked for .yaml, .yml, .json and .cue files); is this the right path?\n" +
		"0 resources in 0 files, 0 errors, 1 warning\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("exit %d, want 0 and\n%sgot\n%s", r.code, want, r.stdout)
	}
}

func TestValidateCouldNotRun(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"validate", "no-such-dir"},
		{"validate", "examples", "no-such-dir"},
		{"validate", "--format", "xml", "examples"},
		{"validate", "examples", "--no-such-flag"},
	} {
		r := run(t, root(), args...)
		if r.code != 2 {
			t.Errorf("meshc %v: exit %d, want 2 (could not run)", args, r.code)
		}
		if r.stdout != "" || !strings.HasPrefix(r.stderr, "meshc validate: ") {
			t.Errorf("meshc %v: want a message on stderr only, got stdout %q stderr %q", args, r.stdout, r.stderr)
		}
	}
	r := run(t, root(), "validate", "no-such-dir")
	if !strings.Contains(r.stderr, "no-such-dir does not exist") {
		t.Errorf("missing path: stderr %q should name the path", r.stderr)
	}
}

// jsonReport is the --format json document.
type jsonReport struct {
	Valid       bool `json:"valid"`
	Resources   int  `json:"resources"`
	Files       int  `json:"files"`
	Errors      int  `json:"errors"`
	Warnings    int  `json:"warnings"`
	Diagnostics []struct {
		Pos struct {
			File string `json:"file"`
			Line int    `json:"line"`
			Col  int    `json:"col"`
		} `json:"pos"`
		Message  string `json:"message"`
		Severity string `json:"severity"`
	} `json:"diagnostics"`
}

func TestValidateFormatJSON(t *testing.T) {
	t.Parallel()
	var ok jsonReport
	r := run(t, root(), "validate", "--format", "json", "examples")
	if err := json.Unmarshal([]byte(r.stdout), &ok); err != nil || r.code != 0 {
		t.Fatalf("examples: exit %d, JSON %v:\n%s", r.code, err, r.stdout)
	}
	if !ok.Valid || ok.Errors != 0 || ok.Resources == 0 || ok.Files == 0 || ok.Diagnostics == nil {
		t.Errorf("examples report: %+v", ok)
	}

	dir := filepath.Join(root(), "testdata", "invalid")
	for _, name := range []string{"undefined-mesh", "yaml-syntax", "duplicate-policy"} {
		var rep jsonReport
		r := run(t, dir, "validate", name, "--format=json")
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%s: output is not JSON: %v\n%s", name, err, r.stdout)
		}
		if r.code != 1 || rep.Valid || rep.Errors == 0 {
			t.Errorf("%s: exit %d, report %+v: want invalid", name, r.code, rep)
		}
		errs, warns := 0, 0
		for _, d := range rep.Diagnostics {
			if !strings.HasPrefix(d.Pos.File, name+"/") || d.Pos.Line == 0 || d.Message == "" {
				t.Errorf("%s: diagnostic without a place or message: %+v", name, d)
			}
			switch d.Severity {
			case "error":
				errs++
			case "warning":
				warns++
			default:
				t.Errorf("%s: severity %q", name, d.Severity)
			}
		}
		if errs != rep.Errors || warns != rep.Warnings {
			t.Errorf("%s: counts %d/%d do not match %d errors, %d warnings listed", name, rep.Errors, rep.Warnings, errs, warns)
		}
	}
}

var githubRE = regexp.MustCompile(`^::(error|warning) file=[^,:]+,line=\d+(,col=\d+)?,title=meshc validate::[^\r\n]+$`)

func TestValidateFormatGitHub(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(root(), "testdata", "invalid")
	seen := map[string]bool{}
	for _, name := range []string{"undefined-mesh", "yaml-syntax", "virtual-outbound-bad-template", "mtls-duplicate-backend"} {
		r := run(t, dir, "validate", "--format", "github", name)
		if r.code != 1 {
			t.Errorf("%s: exit %d, want 1", name, r.code)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if !summaryRE.MatchString(lines[len(lines)-1]) {
			t.Errorf("%s: last line %q is not the summary", name, lines[len(lines)-1])
		}
		for _, l := range lines[:len(lines)-1] {
			if !githubRE.MatchString(l) {
				t.Errorf("%s: malformed workflow command %q", name, l)
			}
			seen[strings.SplitN(l, " ", 2)[0]] = true
		}
	}
	if !seen["::error"] || !seen["::warning"] {
		t.Errorf("want both ::error and ::warning annotations among the repos, saw %v", seen)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
