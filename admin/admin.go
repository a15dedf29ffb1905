// Package admin serves ferry's operational endpoints: an HTTP server with
// a status page, Prometheus metrics, twemproxy-style JSON stats, a health
// check, pprof and the running configuration (secrets redacted), and
// twemproxy's raw TCP stats port (one JSON document written on connect,
// then close).
//
// Everything here is off the data path: a scrape merges the engine's
// per-loop counter shards (engine.Server.Stats) and never touches a loop.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/engine"
)

// Source is what the admin endpoints read; *engine.Server implements it.
type Source interface {
	Stats() engine.Snapshot
}

// Options configure [Start].
type Options struct {
	// HTTPAddr is the admin HTTP address (host:port); "" disables it.
	HTTPAddr string
	// StatsAddr is twemproxy's raw TCP stats address (host:port); ""
	// disables it.
	StatsAddr string
	// Source gives the statistics. Required.
	Source Source
	// Config is the running configuration file's text, served by /config
	// with its secrets redacted. [Server.SetConfig] replaces it (after a
	// reload).
	Config []byte
	// Reload, when set, serves POST /reload: it reloads the configuration
	// (from the file or the config source) and returns what changed, or
	// why nothing did.
	Reload func(ctx context.Context) (changes []string, err error)
	// Hostname is the stats JSON's "source"; default os.Hostname().
	Hostname string
	// Logger receives accept errors and the like; default slog.Default().
	Logger *slog.Logger
}

// Server is a running admin HTTP server and/or raw stats listener.
type Server struct {
	src      Source
	reload   func(ctx context.Context) ([]string, error)
	hostname string
	log      *slog.Logger
	config   atomic.Pointer[[]byte] // redacted
	registry *prometheus.Registry

	httpLn  net.Listener
	httpSrv *http.Server
	statsLn net.Listener

	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    chan struct{}
}

// Start binds the configured listeners (a bind failure is returned and
// nothing is left open) and serves them in the background until Close.
func Start(o Options) (*Server, error) {
	if o.Source == nil {
		return nil, errors.New("admin: no stats source")
	}
	s := &Server{src: o.Source, reload: o.Reload, hostname: o.Hostname, log: o.Logger,
		closed: make(chan struct{})}
	if s.hostname == "" {
		s.hostname, _ = os.Hostname()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.SetConfig(o.Config)
	s.registry = newRegistry(s.src)

	if o.HTTPAddr != "" {
		ln, err := net.Listen("tcp", o.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("admin HTTP: %w", err)
		}
		s.httpLn = ln
	}
	if o.StatsAddr != "" {
		ln, err := net.Listen("tcp", o.StatsAddr)
		if err != nil {
			if s.httpLn != nil {
				s.httpLn.Close()
			}
			return nil, fmt.Errorf("stats port: %w", err)
		}
		s.statsLn = ln
	}

	if s.httpLn != nil {
		s.httpSrv = &http.Server{
			Handler:           s.Handler(),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			// No WriteTimeout: /debug/pprof/profile and /trace stream for
			// as long as the caller asks.
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("admin HTTP server stopped", "err", err)
			}
		}()
	}
	if s.statsLn != nil {
		s.wg.Add(1)
		go s.serveStatsPort()
	}
	return s, nil
}

// HTTPAddr is the admin HTTP listener's address, nil when disabled.
func (s *Server) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// StatsAddr is the raw stats listener's address, nil when disabled.
func (s *Server) StatsAddr() net.Addr {
	if s.statsLn == nil {
		return nil
	}
	return s.statsLn.Addr()
}

// SetConfig replaces the text /config serves; its secrets (redis_auth) are
// redacted here, so they are never served.
func (s *Server) SetConfig(text []byte) {
	c := config.Redact(text)
	s.config.Store(&c)
}

// Close stops both listeners; in-flight HTTP requests get until ctx is done
// to finish, after which their connections are closed.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.statsLn != nil {
			s.statsLn.Close()
		}
		if s.httpSrv != nil {
			if err = s.httpSrv.Shutdown(ctx); err != nil {
				s.httpSrv.Close()
			}
		}
		s.wg.Wait()
	})
	return err
}

// Handler is the admin HTTP mux (also usable without Start, e.g. in tests).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleStatusPage)
	mux.HandleFunc("GET /status.json", s.handleStatusJSON)
	mux.Handle("GET /metrics", metricsHandler(s.registry, s.log))
	mux.HandleFunc("GET /stats", s.handleStats)
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /config", s.handleConfig)
	mux.HandleFunc("POST /reload", s.handleReload)
	// pprof on this mux only; importing net/http/pprof also registers on
	// http.DefaultServeMux, which ferry never serves.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(AppendStatsJSON(nil, s.src.Stats(), s.hostname))
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	select {
	case <-s.closed:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("stopping"))
	default:
		_, _ = w.Write([]byte("ok"))
	}
}

func (s *Server) handleConfig(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(*s.config.Load())
}

// reloadReply is POST /reload's answer.
type reloadReply struct {
	OK      bool     `json:"ok"`
	Changes []string `json:"changes,omitempty"` // what the reload changed, a line each
	Error   string   `json:"error,omitempty"`   // why nothing changed
}

// handleReload reloads the configuration: 200 with what changed, or 422
// with the errors (the file's, with line numbers) and nothing changed.
func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if s.reload == nil {
		w.WriteHeader(http.StatusNotImplemented)
		_ = json.NewEncoder(w).Encode(reloadReply{Error: "reload is not available"})
		return
	}
	changes, err := s.reload(r.Context())
	if err != nil {
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(reloadReply{Error: err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(reloadReply{OK: true, Changes: changes})
}

// serveStatsPort is twemproxy's stats listener: every connection gets one
// JSON document (the same as /stats, newline-terminated) and is closed;
// nothing is read from it.
func (s *Server) serveStatsPort() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.statsLn.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: retry after a pause, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("stats port accept", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write(AppendStatsJSON(nil, s.src.Stats(), s.hostname))
		}()
	}
}
