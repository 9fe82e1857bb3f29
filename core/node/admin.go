package node

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
)

// AdminHandler returns the handler of msnode's admin HTTP listener:
//
//	GET /healthz        200 "ok" while the node serves, 503 once it is closing
//	GET /stats          the node's counters (Stats) as JSON
//	GET /debug/pprof/   the runtime profiles of net/http/pprof
func (n *Node) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if n.isClosed() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("closing\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(n.Stats())
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
