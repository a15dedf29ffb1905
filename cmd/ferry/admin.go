package main

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/ferry-proxy/ferry/admin"
)

// startAdmin binds the admin HTTP server and twemproxy's stats port as the
// flags say; a bind failure is returned (and is a start failure).
func startAdmin(o *options, src admin.Source, confText []byte, log *slog.Logger) (*admin.Server, error) {
	statsAddr := ""
	if o.statsPort != 0 {
		statsAddr = net.JoinHostPort(o.statsAddr, strconv.Itoa(o.statsPort))
	}
	adm, err := admin.Start(admin.Options{
		HTTPAddr:  o.adminAddr,
		StatsAddr: statsAddr,
		Source:    src,
		Config:    confText,
		Logger:    log,
	})
	if err != nil {
		return nil, err
	}
	if a := adm.HTTPAddr(); a != nil {
		log.Info("admin HTTP listening", "addr", a.String())
	}
	if a := adm.StatsAddr(); a != nil {
		log.Info("stats port listening", "addr", a.String())
	}
	return adm, nil
}

// stopAdmin closes the admin listeners, giving in-flight requests a moment.
// It is safe to call more than once.
func stopAdmin(adm *admin.Server, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := adm.Close(ctx); err != nil {
		log.Warn("admin server stop", "err", err)
	}
}
