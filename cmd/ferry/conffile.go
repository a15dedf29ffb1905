package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// layout is where a nutcracker build looks for its files when the command
// line does not say.
type layout struct {
	name string
	conf string // configuration file
	log  string // log file when -o is not given; "" = stderr
}

// confLayouts are searched in order when -c is not given; the first whose
// configuration file exists is used, with its log default. twemproxy's own
// default is relative to the working directory; Debian's nutcracker
// package is built with /etc/nutcracker/nutcracker.yml and logs to
// /var/log/nutcracker/nutcracker.log unless -o is given (its logrotate
// entry rotates that file and sends SIGHUP through the init script). Like
// both builds, no pid file is written without -p. A var for tests.
var confLayouts = []layout{
	{name: "twemproxy", conf: "conf/nutcracker.yml"},
	{name: "Debian nutcracker", conf: "/etc/nutcracker/nutcracker.yml", log: "/var/log/nutcracker/nutcracker.log"},
}

// exampleConf is the example configuration in ferry's repository, named in
// the error for a missing default.
const exampleConf = "conf/ferry.yml"

// resolveConf fills in o.confFile (and, for a layout with one, the log
// file) when -c was not given.
func resolveConf(o *options) error {
	if o.confGiven {
		return nil
	}
	var tried []string
	for _, l := range confLayouts {
		_, err := os.Stat(l.conf)
		if err == nil {
			o.confFile = l.conf
			if o.output == "" && !o.testConf {
				o.output = l.log
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("configuration file '%s': %w", l.conf, err)
		}
		tried = append(tried, l.conf)
	}
	hint := ""
	if _, err := os.Stat(exampleConf); err == nil {
		hint = fmt.Sprintf(" (in ferry's repository: -c %s)", exampleConf)
	}
	return fmt.Errorf("no configuration file: -c was not given and none of %s exists; "+
		"pass one with -c FILE%s", strings.Join(tried, ", "), hint)
}
