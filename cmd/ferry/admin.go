package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/ferry-proxy/ferry/admin"
)

// startAdmin binds the admin HTTP server and twemproxy's stats port as the
// flags say; a bind failure is returned (and is a start failure), except
// that the default admin address, when another process holds it, is
// skipped with one warning. twemproxy has no admin server, so a host
// running one nutcracker per pool group, each with its own -s, must be
// able to run as many ferrys from the same command lines.
func startAdmin(o *options, src admin.Source, confText []byte, log *slog.Logger,
	reload func(context.Context) ([]string, error)) (*admin.Server, error) {
	statsAddr := ""
	if o.statsPort != 0 {
		statsAddr = net.JoinHostPort(o.statsAddr, strconv.Itoa(o.statsPort))
	}
	ao := admin.Options{
		HTTPAddr:  o.adminAddr,
		StatsAddr: statsAddr,
		Source:    src,
		Config:    confText,
		Reload:    reload,
		Logger:    log,
	}
	adm, err := admin.Start(ao)
	if err != nil && !o.adminGiven && ao.HTTPAddr != "" && errors.Is(err, syscall.EADDRINUSE) {
		// The taken address may be the stats port's: then the retry without
		// admin HTTP fails the same way and that error is returned.
		ao.HTTPAddr = ""
		if adm, err = admin.Start(ao); err == nil {
			log.Warn("default admin HTTP address "+o.adminAddr+" is taken (another ferry on this host?): "+
				"running without admin HTTP (/metrics, /stats, /healthz); give each instance its own with "+
				"--admin ADDR, or --admin off to silence this", "addr", o.adminAddr)
		}
	}
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
