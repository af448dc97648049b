package schema

import (
	"runtime"
	"sync"
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

func (j *job) do(c *compiled) {
	defer func() {
		// A panic in a parser or in CUE must not take the control plane
		// down with it: it becomes this file's error.
		if v := recover(); v != nil {
			c.uses = maxUses + 1 // do not reuse a context a panic went through
			j.res = nil
			j.errs = Errors{internalError(j.name, v)}
		}
	}()
	switch j.kind {
	case kindYAML:
		j.res, j.errs = loadYAML(c, j.name, j.data)
	case kindJSON:
		j.res, j.errs = loadJSON(c, j.name, j.data)
	case kindCUE:
		j.res, j.errs = loadCUEDir(c, j.dir, j.cue)
	}
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
			defer release(c)
			for j := range next {
				j.do(c)
			}
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
