package compiler

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/meshc/meshc/schema"
)

// normalize returns a deep copy of r in canonical form, so equal content
// gives equal bytes whatever the source: empty lists and maps become nil,
// untyped `default` blocks lose empty entries and have their durations
// written one way ("60s" and "1m" both become "1m0s"), and an omitted
// top-level targetRef becomes kind Mesh. The Source is kept.
func normalize(r schema.Resource) (schema.Resource, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return schema.Resource{}, err
	}
	var n schema.Resource
	if err := json.Unmarshal(b, &n); err != nil {
		return schema.Resource{}, fmt.Errorf("%s: %w", r.Key(), err)
	}
	n.Source = r.Source
	if ps := n.PolicySpec(); ps != nil {
		if ps.TargetRef.Kind == "" {
			ps.TargetRef.Kind = schema.KindMesh
		}
		for _, items := range [][]schema.PolicyItem{ps.To, ps.From} {
			for i := range items {
				items[i].Default = normalizeMap(items[i].Default)
			}
		}
	}
	canonical(reflect.ValueOf(n.Spec))
	return n, nil
}

// canonical walks a typed value and sets empty slices and maps to nil.
func canonical(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		canonical(v.Elem())
		// An optional block written empty ({}) means the same as an absent one.
		if v.Elem().Kind() == reflect.Struct && v.Elem().IsZero() && v.CanSet() {
			v.Set(reflect.Zero(v.Type()))
		}
	case reflect.Interface:
		if !v.IsNil() {
			canonical(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				canonical(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			if !v.IsNil() && v.CanSet() {
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		for i := 0; i < v.Len(); i++ {
			canonical(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 && !v.IsNil() && v.CanSet() {
			v.Set(reflect.Zero(v.Type()))
		}
		// Map values of typed maps here are strings or untyped blocks that
		// normalizeMap already handled.
	}
}

// normalizeMap canonicalizes an untyped block: drops null entries and
// rewrites known duration fields in one form. Empty maps and lists stay: in a
// default block `tcp: {}` means "on", not "absent".
func normalizeMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		v = normalizeAny(v)
		if v == nil {
			continue
		}
		if s, ok := v.(string); ok && durationFields()[k] {
			if d, err := schema.ParseDuration(s); err == nil {
				v = d.String()
			}
		}
		out[k] = v
	}
	return out
}

func normalizeAny(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return normalizeMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeAny(e)
		}
		return out
	}
	return v
}

// durationFields are the JSON names of Duration fields in the policy Conf
// types; a string under one of these keys in a default block is a duration.
var durationFields = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	durType := reflect.TypeOf(schema.Duration{})
	var walk func(t reflect.Type, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, seen map[reflect.Type]bool) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durType || seen[t] {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft == durType {
				names[jsonName(f)] = true
				continue
			}
			walk(f.Type, seen)
		}
	}
	for _, c := range []any{
		schema.TimeoutConf{}, schema.RetryConf{}, schema.CircuitBreakerConf{},
		schema.HealthCheckConf{}, schema.LoadBalancingConf{}, schema.TrafficPermissionConf{},
	} {
		walk(reflect.TypeOf(c), map[reflect.Type]bool{})
	}
	return names
})

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	for i := 0; i < len(tag); i++ {
		if tag[i] == ',' {
			tag = tag[:i]
			break
		}
	}
	if tag == "" {
		return f.Name
	}
	return tag
}
