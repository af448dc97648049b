package schema

import (
	"runtime"
	"sync"
	"time"
)

// job is one unit of parallel work: a YAML or JSON file, or the CUE files
// of one directory.
type job struct {
	kind fileKind
	name string
	data []byte
	dir  string
	cue  []cueFile

	res  []Resource
	errs Errors
}

// cueTimeout bounds the evaluation of one CUE package. CUE has no way to
// cancel an evaluation, and a template with runaway comprehensions or
// recursion can take hours; past the deadline the package is reported as
// an error and its evaluation is abandoned (with its cue.Context), so that
// a control plane keeps serving. The abandoned goroutine ends when CUE does.
var cueTimeout = 30 * time.Second

// do runs the job with c. It reports whether c had to be abandoned to a
// runaway CUE evaluation, in which case the caller must not use it again.
func (j *job) do(c *compiled) (abandoned bool) {
	if j.kind != kindCUE || cueTimeout <= 0 {
		j.res, j.errs = j.load(c)
		return false
	}
	type result struct {
		res  []Resource
		errs Errors
	}
	done := make(chan result, 1) // never blocks an abandoned evaluation
	go func() {
		r, e := j.load(c)
		done <- result{r, e}
	}()
	deadline := time.NewTimer(cueTimeout)
	defer deadline.Stop()
	select {
	case r := <-done:
		j.res, j.errs = r.res, r.errs
		return false
	case <-deadline.C:
		first := j.name
		if len(j.cue) > 0 {
			first = j.cue[0].name
		}
		j.res, j.errs = nil, Errors{Errorf(Pos{File: first}, "evaluating the CUE package in %s took longer than %s and was stopped: look for comprehensions or references that multiply (nested for loops over large lists, recursive definitions) and simplify them", j.name, cueTimeout)}
		return true
	}
}

// load runs the job. A panic in a parser or in CUE must not take the
// control plane down with it: it becomes this file's error.
func (j *job) load(c *compiled) (res []Resource, errs Errors) {
	defer func() {
		if v := recover(); v != nil {
			c.uses = maxUses + 1 // do not reuse a context a panic went through
			res, errs = nil, Errors{internalError(j.name, v)}
		}
	}()
	switch j.kind {
	case kindYAML:
		return loadYAML(c, j.name, j.data)
	case kindJSON:
		return loadJSON(c, j.name, j.data)
	case kindCUE:
		return loadCUEDir(c, j.dir, j.cue)
	}
	return nil, nil
}

// run validates the queued jobs on up to GOMAXPROCS goroutines, each with
// its own compiled schema, and returns results in queue order.
func (l *loader) run() ([]Resource, Errors) {
	jobs := l.jobs
	for _, dir := range l.cueDirs {
		jobs = append(jobs, &job{kind: kindCUE, name: l.name(dir), dir: dir, cue: l.cue[dir]})
	}
	l.jobs, l.cue, l.cueDirs = nil, map[string][]cueFile{}, nil

	workers := min(runtime.GOMAXPROCS(0), len(jobs), 8)
	next := make(chan *job)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := acquire()
			for j := range next {
				if j.do(c) {
					c = acquire() // the old one still belongs to a runaway evaluation
				}
			}
			release(c)
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()

	var rs []Resource
	errs := l.errs
	l.errs = nil
	for _, j := range jobs {
		rs = append(rs, j.res...)
		errs = append(errs, j.errs...)
	}
	return rs, errs
}

func internalError(name string, v any) Error {
	return Errorf(Pos{File: name}, "internal error while reading this file (%v); please report it with the file attached", v)
}
