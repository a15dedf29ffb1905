package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/ferry-proxy/ferry/admin"
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/config/source"
	"github.com/ferry-proxy/ferry/engine"
)

// reloader applies a new configuration while ferry serves: read again from
// its source (the -c file, or the --config-source key) on SIGHUP, SIGUSR1
// and POST /reload, and each change the source's watch delivers. The
// configuration is parsed and checked in full before anything changes; a
// bad one is logged, counted and returned, and changes nothing. Reloads
// from the different triggers wait for one another.
type reloader struct {
	srv *engine.Server
	src source.Source
	log *slog.Logger
	adm *admin.Server // set once the admin server runs; its /config follows

	mu sync.Mutex
}

// reloadSource reads the source again and applies what it holds.
func (r *reloader) reloadSource(ctx context.Context, trigger string) ([]string, error) {
	cfg, raw, err := r.src.Load(ctx)
	if err != nil {
		r.srv.CountReloadFailure()
		return nil, fmt.Errorf("configuration %s is invalid or unreadable, nothing changed: %w", r.src.Name(), err)
	}
	return r.apply(cfg, raw, trigger)
}

// apply hands cfg (raw is its text, for /config) to the engine.
func (r *reloader) apply(cfg *config.Config, raw []byte, trigger string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, err := r.srv.Reload(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w; nothing changed", err)
	}
	if r.adm != nil {
		r.adm.SetConfig(raw)
	}
	r.log.Warn("configuration reloaded", "trigger", trigger, "conf", r.src.Name(), "changes", strings.Join(res.Changes, "; "))
	return res.Changes, nil
}
