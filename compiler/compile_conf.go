package compiler

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/meshc/meshc/schema"
)

// checkConf decodes a policy's default block into its kind's Conf type and
// checks what relates one field to another (the schema checks each field).
func (c *checker) checkConf(r *schema.Resource, p string, def map[string]any) {
	switch r.Type {
	case schema.TypeMeshTrafficPermission:
		conf, ok := decode[schema.TrafficPermissionConf](c, r, p, def)
		if !ok {
			return
		}
		switch conf.Action {
		case "Allow", "Deny", "AllowWithShadowDeny":
		case "":
			c.errorf(r, p, "MeshTrafficPermission default needs action: Allow, Deny or AllowWithShadowDeny")
		default:
			c.errorf(r, p+".action", "unknown action %q: use Allow, Deny or AllowWithShadowDeny", conf.Action)
		}
	case schema.TypeMeshTimeout:
		decode[schema.TimeoutConf](c, r, p, def)
	case schema.TypeMeshRetry:
		conf, ok := decode[schema.RetryConf](c, r, p, def)
		if !ok {
			return
		}
		c.checkBackOff(r, p+".http.backOff", conf.HTTP)
		c.checkBackOff(r, p+".grpc.backOff", conf.GRPC)
	case schema.TypeMeshCircuitBreaker:
		conf, ok := decode[schema.CircuitBreakerConf](c, r, p, def)
		if !ok {
			return
		}
		if od := conf.OutlierDetection; od != nil && od.MaxEjectionPercent != nil && (*od.MaxEjectionPercent < 0 || *od.MaxEjectionPercent > 100) {
			c.errorf(r, p+".outlierDetection.maxEjectionPercent", "maxEjectionPercent %d is not a percentage (0–100)", *od.MaxEjectionPercent)
		}
	case schema.TypeMeshHealthCheck:
		conf, ok := decode[schema.HealthCheckConf](c, r, p, def)
		if !ok {
			return
		}
		if conf.Interval != nil && conf.Timeout != nil && conf.Timeout.Duration >= conf.Interval.Duration {
			c.warnf(r, p+".timeout", "health check timeout %s is not shorter than its interval %s: checks would overlap; make timeout shorter", conf.Timeout, conf.Interval)
		}
		if conf.HTTP != nil && !conf.HTTP.Disabled && conf.HTTP.Path != "" && conf.HTTP.Path[0] != '/' {
			c.errorf(r, p+".http.path", "health check path %q must start with \"/\"", conf.HTTP.Path)
		}
	case schema.TypeMeshLoadBalancingStrategy:
		conf, ok := decode[schema.LoadBalancingConf](c, r, p, def)
		if !ok {
			return
		}
		if lb := conf.LoadBalancer; lb != nil {
			switch lb.Type {
			case "RoundRobin", "LeastRequest", "RingHash", "Random", "Maglev":
			default:
				c.errorf(r, p+".loadBalancer.type", "unknown load balancer type %q: use RoundRobin, LeastRequest, RingHash, Random or Maglev", lb.Type)
			}
		}
	}
}

// checkBackOff reports a back-off whose base interval exceeds its maximum.
func (c *checker) checkBackOff(r *schema.Resource, p string, h *schema.HTTPRetry) {
	if h == nil || h.BackOff == nil || h.BackOff.BaseInterval == nil || h.BackOff.MaxInterval == nil {
		return
	}
	if h.BackOff.BaseInterval.Duration > h.BackOff.MaxInterval.Duration {
		c.errorf(r, p+".baseInterval", "back-off baseInterval %s is longer than maxInterval %s", h.BackOff.BaseInterval, h.BackOff.MaxInterval)
	}
}

// decode reads a default block as T, reporting a field of the wrong shape.
func decode[T any](c *checker, r *schema.Resource, p string, def map[string]any) (T, bool) {
	conf, err := schema.DecodeConf[T](def)
	if err == nil {
		return conf, true
	}
	path := p
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		path = p + "." + te.Field
		err = fmt.Errorf("%s must be %s, not %s", te.Field, te.Type, te.Value)
	}
	c.errorf(r, path, "invalid %s default: %v", r.Type, err)
	return conf, false
}
