// Package telemetry will hold msnode's metrics registry, Prometheus
// exposition and admin HTTP endpoints (issue #7). The admin listener's
// /healthz, /stats and /debug/pprof/ live in core/node until then.
package telemetry
