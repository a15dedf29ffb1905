package source

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"

	"github.com/ferry-proxy/ferry/config"
)

// File is the source for a configuration file (-c). It is read at each Load
// and not watched: a file is reloaded on a signal (SIGHUP, SIGUSR1) or POST
// /reload, as twemproxy's users expect, never while an editor writes it.
type File string

// Name is the file's path, as given.
func (f File) Name() string { return string(f) }

// Load reads and validates the file. A missing file wraps ErrNotFound.
func (f File) Load(context.Context) (*config.Config, []byte, error) {
	raw, err := os.ReadFile(string(f))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, &kindError{kind: ErrNotFound, text: err.Error(), err: err}
		}
		return nil, nil, err
	}
	cfg, err := config.Parse(string(f), raw)
	if err != nil {
		return nil, raw, err
	}
	return cfg, raw, nil
}

// Watch delivers nothing (see File) and returns when ctx is done.
func (f File) Watch(ctx context.Context, _ *slog.Logger, _ func(*config.Config, []byte, error)) {
	<-ctx.Done()
}

// Close does nothing.
func (f File) Close() error { return nil }
