package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/ferry-proxy/ferry/backend/preview"
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/config/source"
)

// startConfig is the configuration ferry starts from, and the source later
// ones come from: the -c file, or the --config-source (an etcd key).
type startConfig struct {
	src source.Source  // where a reload reads from; Watch delivers its changes
	cfg *config.Config // cfg.File names what it was read from ("etcd:/KEY" or the file)
	raw []byte         // cfg's text, for the admin /config page
	// fallback is why the --config-source could not be read at start, when
	// ferry started from the -c file instead (logged once the log is open).
	fallback error
}

// loadStartConfig reads the configuration ferry starts from. With
// --config-source it is the source's; when the source cannot be reached
// and -c was given, the file's (the source is watched all the same, and
// its configuration arrives as a change once it can be read). It prints
// why it failed to stderr and returns nil on failure.
func loadStartConfig(o *options, stderr io.Writer) *startConfig {
	if o.configSource == "" {
		cfg, raw, ok := loadFile(o.confFile, stderr)
		if !ok {
			return nil
		}
		return &startConfig{src: source.File(o.confFile), cfg: cfg, raw: raw}
	}
	src, err := source.Open(o.configSource, source.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "ferry: --config-source: %v\n", err)
		return nil
	}
	cfg, raw, err := src.Load(context.Background())
	switch {
	case err == nil:
		return &startConfig{src: src, cfg: cfg, raw: raw}
	case errors.Is(err, source.ErrUnreachable) && o.confGiven && !o.testConf:
		cfg, raw, ok := loadFile(o.confFile, stderr)
		if !ok {
			src.Close()
			return nil
		}
		return &startConfig{src: src, cfg: cfg, raw: raw, fallback: err}
	}
	src.Close()
	var errs config.Errors
	switch {
	case errors.As(err, &errs):
		fmt.Fprintf(stderr, "ferry: configuration %s syntax is invalid\n%v\n", src.Name(), err)
	case errors.Is(err, source.ErrUnreachable) && !o.testConf:
		fmt.Fprintf(stderr, "ferry: cannot read the configuration: %v\n"+
			"(no -c FILE to start from meanwhile; with one, ferry starts from it and keeps trying %s)\n", err, src.Name())
	default:
		fmt.Fprintf(stderr, "ferry: cannot read the configuration: %v\n", err)
	}
	return nil
}

func loadFile(path string, stderr io.Writer) (*config.Config, []byte, bool) {
	raw, err := os.ReadFile(path)
	var cfg *config.Config
	if err == nil {
		cfg, err = config.Parse(path, raw)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ferry: configuration file '%s' syntax is invalid\n%v\n", path, err)
		return nil, nil, false
	}
	return cfg, raw, true
}

// testConfig is -t: sc is valid; with --against, print what a reload from
// that file to sc would change. It returns the exit status.
func testConfig(o *options, sc *startConfig, stdout, stderr io.Writer) int {
	if o.configSource == "" {
		fmt.Fprintf(stdout, "ferry: configuration file '%s' syntax is ok\n", sc.cfg.File)
	} else {
		fmt.Fprintf(stdout, "ferry: configuration %s syntax is ok\n", sc.cfg.File)
	}
	if o.against == "" {
		return 0
	}
	prev, _, ok := loadFile(o.against, stderr)
	if !ok {
		fmt.Fprintf(stderr, "ferry: --against needs a valid configuration to compare with\n")
		return 1
	}
	pools, err := preview.Compare(prev, sc.cfg, preview.DefaultSampleKeys)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: preview: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ferry: a reload from '%s' to '%s' would change:\n", prev.File, sc.cfg.File)
	if err := preview.Write(stdout, pools); err != nil {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 1
	}
	return 0
}

// watchSource follows the configuration source until the returned stop is
// called (which also closes the source). Every valid configuration it
// delivers goes to apply; an invalid one is logged and changes nothing.
func watchSource(sc *startConfig, log *slog.Logger, apply func(cfg *config.Config, raw []byte) error) (stop func()) {
	if sc.fallback != nil {
		log.Warn("config source unreachable at start: serving the -c file until it can be read",
			"source", sc.src.Name(), "file", sc.cfg.File, "err", sc.fallback)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc.src.Watch(ctx, log, func(cfg *config.Config, raw []byte, err error) {
			if err != nil {
				log.Error("configuration from the config source is invalid, nothing changed", "source", sc.src.Name(), "err", err)
				return
			}
			log.Info("configuration changed in the config source", "source", sc.src.Name(), "bytes", len(raw))
			if err := apply(cfg, raw); err != nil {
				log.Error("configuration reload failed, nothing changed", "trigger", "config source", "source", sc.src.Name(), "err", err)
			}
		})
	}()
	return func() {
		cancel()
		<-done
		_ = sc.src.Close()
	}
}
