package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/ferry-proxy/ferry/admin"
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/engine"
)

// reloader applies a new configuration while ferry serves: the -c file
// again on SIGHUP, SIGUSR1 and POST /reload. The file is parsed and checked
// in full before anything changes; a bad one is logged, counted and
// returned, and changes nothing.
type reloader struct {
	srv  *engine.Server
	path string
	log  *slog.Logger
	adm  *admin.Server // set once the admin server runs; its /config follows
}

// reloadFile re-reads the configuration file and applies it.
func (r *reloader) reloadFile(_ context.Context, trigger string) ([]string, error) {
	text, err := os.ReadFile(r.path)
	var cfg *config.Config
	if err == nil {
		cfg, err = config.Parse(r.path, text)
	}
	if err != nil {
		r.srv.CountReloadFailure()
		return nil, fmt.Errorf("configuration file '%s' is invalid, nothing changed: %w", r.path, err)
	}
	return r.apply(cfg, text, trigger)
}

// apply hands cfg (text is its source, for /config) to the engine.
func (r *reloader) apply(cfg *config.Config, text []byte, trigger string) ([]string, error) {
	res, err := r.srv.Reload(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w; nothing changed", err)
	}
	if r.adm != nil {
		r.adm.SetConfig(text)
	}
	r.log.Warn("configuration reloaded", "trigger", trigger, "conf", r.path, "changes", strings.Join(res.Changes, "; "))
	return res.Changes, nil
}
