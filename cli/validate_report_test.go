package cli

import (
	"testing"

	"github.com/meshc/meshc/schema"
)

func TestGitHubAnnotationEscapes(t *testing.T) {
	for _, tc := range []struct {
		in   schema.Error
		want string
	}{
		{
			schema.Error{Pos: schema.Pos{File: "a,b:c.yaml", Line: 3, Col: 5}, Msg: "100% wrong\nsecond line", Severity: schema.SeverityError},
			"::error file=a%2Cb%3Ac.yaml,line=3,col=5,title=meshc validate::100%25 wrong%0Asecond line",
		},
		{
			schema.Error{Pos: schema.Pos{File: "big.yaml"}, Msg: "too big", Severity: schema.SeverityWarning},
			"::warning file=big.yaml,title=meshc validate::too big",
		},
	} {
		if got := githubAnnotation(tc.in); got != tc.want {
			t.Errorf("githubAnnotation:\n got %s\nwant %s", got, tc.want)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	s := summary{Resources: 1, Files: 1, Errors: 0}
	if got := s.line(); got != "1 resource in 1 file, 0 errors" {
		t.Errorf("got %q", got)
	}
	s = summary{Resources: 12, Files: 9, Errors: 1, Warnings: 2}
	if got := s.line(); got != "12 resources in 9 files, 1 error, 2 warnings" {
		t.Errorf("got %q", got)
	}
}
