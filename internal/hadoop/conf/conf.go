// Package conf reads Hadoop client configuration the way Hadoop tools do:
// core-site.xml, hdfs-site.xml and yarn-site.xml from HADOOP_CONF_DIR (and
// YARN_CONF_DIR, which wins for yarn-site.xml), over built-in defaults for
// the keys floe uses. Values expand ${key} and ${env.NAME} references.
package conf

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors.
var (
	// ErrNoConfDir means neither HADOOP_CONF_DIR nor YARN_CONF_DIR is set.
	ErrNoConfDir = errors.New("conf: HADOOP_CONF_DIR and YARN_CONF_DIR are not set")
	// ErrParse means a configuration file is not valid Hadoop XML.
	ErrParse = errors.New("conf: bad configuration file")
	// ErrMissing means a key the caller needs has no value.
	ErrMissing = errors.New("conf: missing key")
)

// Environment variables naming configuration directories.
const (
	EnvHadoopConfDir = "HADOOP_CONF_DIR"
	EnvYarnConfDir   = "YARN_CONF_DIR"
)

// Site files, in load order.
var siteFiles = []string{"core-site.xml", "hdfs-site.xml", "yarn-site.xml"}

// defaults are Hadoop's defaults for the keys floe reads (core-default.xml,
// yarn-default.xml).
var defaults = map[string]string{
	"fs.defaultFS":                             "file:///",
	"hadoop.security.authentication":           "simple",
	"yarn.resourcemanager.hostname":            "0.0.0.0",
	"yarn.resourcemanager.address":             "${yarn.resourcemanager.hostname}:8032",
	"yarn.resourcemanager.scheduler.address":   "${yarn.resourcemanager.hostname}:8030",
	"yarn.resourcemanager.webapp.address":      "${yarn.resourcemanager.hostname}:8088",
	"yarn.resourcemanager.ha.enabled":          "false",
	"yarn.resourcemanager.am.max-attempts":     "2",
	"yarn.app.mapreduce.am.staging-dir":        "/tmp/hadoop-yarn/staging",
	"yarn.nodemanager.address":                 "${yarn.nodemanager.hostname}:0",
	"yarn.nodemanager.hostname":                "0.0.0.0",
	"yarn.scheduler.minimum-allocation-mb":     "1024",
	"yarn.scheduler.maximum-allocation-mb":     "8192",
	"yarn.scheduler.minimum-allocation-vcores": "1",
	"yarn.scheduler.maximum-allocation-vcores": "4",
	"ipc.client.connect.timeout":               "20000",
	"ipc.ping.interval":                        "60000",
	"ipc.client.connection.maxidletime":        "10000",
}

// Conf is a set of Hadoop configuration properties. The zero value is not
// usable; use New, Load or LoadDirs. A Conf is safe for concurrent reads.
type Conf struct {
	props  map[string]string
	final  map[string]bool
	Source []string // files read, in order
}

// New returns a configuration holding only the defaults, then props.
func New(props map[string]string) *Conf {
	c := &Conf{props: map[string]string{}, final: map[string]bool{}}
	for k, v := range defaults {
		c.props[k] = v
	}
	for k, v := range props {
		c.props[k] = v
	}
	return c
}

// Load reads the site files from YARN_CONF_DIR and HADOOP_CONF_DIR.
func Load() (*Conf, error) {
	var dirs []string
	if d := os.Getenv(EnvHadoopConfDir); d != "" {
		dirs = append(dirs, d)
	}
	if d := os.Getenv(EnvYarnConfDir); d != "" && d != os.Getenv(EnvHadoopConfDir) {
		dirs = append(dirs, d)
	}
	if len(dirs) == 0 {
		return nil, ErrNoConfDir
	}
	return LoadDirs(dirs...)
}

// LoadDirs reads the site files found in dirs; a later directory's file
// overrides an earlier one's keys unless they are final. Missing files are
// skipped; a directory that does not exist is an error.
func LoadDirs(dirs ...string) (*Conf, error) {
	c := New(nil)
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil {
			return nil, fmt.Errorf("conf: configuration directory: %w", err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("conf: %s is not a directory", d)
		}
		for _, name := range siteFiles {
			p := filepath.Join(d, name)
			f, err := os.Open(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("conf: %w", err)
			}
			err = c.read(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("conf: %s: %w", p, err)
			}
			c.Source = append(c.Source, p)
		}
	}
	return c, nil
}

type xmlConfiguration struct {
	Properties []struct {
		Name  string `xml:"name"`
		Value string `xml:"value"`
		Final string `xml:"final"`
	} `xml:"property"`
}

// Read merges the properties of one configuration XML document.
func (c *Conf) Read(r io.Reader) error {
	if err := c.read(r); err != nil {
		return fmt.Errorf("conf: %w", err)
	}
	return nil
}

func (c *Conf) read(r io.Reader) error {
	var doc xmlConfiguration
	if err := xml.NewDecoder(r).Decode(&doc); err != nil {
		return fmt.Errorf("%w: %w", ErrParse, err)
	}
	for _, p := range doc.Properties {
		name := strings.TrimSpace(p.Name)
		if name == "" || c.final[name] {
			continue
		}
		c.props[name] = strings.TrimSpace(p.Value)
		if strings.TrimSpace(p.Final) == "true" {
			c.final[name] = true
		}
	}
	return nil
}

// Set sets a property (for -D overrides and tests).
func (c *Conf) Set(key, value string) { c.props[key] = value }

var varRef = regexp.MustCompile(`\$\{([^}$ ]+)\}`)

// Get returns the expanded value of key and whether it is set.
func (c *Conf) Get(key string) (string, bool) {
	v, ok := c.props[key]
	if !ok {
		return "", false
	}
	return c.expand(v, 0), true
}

func (c *Conf) expand(v string, depth int) string {
	if depth >= 20 || !strings.Contains(v, "${") {
		return v
	}
	return varRef.ReplaceAllStringFunc(v, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if env, ok := strings.CutPrefix(name, "env."); ok {
			if e, ok := os.LookupEnv(env); ok {
				return e
			}
			return ref
		}
		if r, ok := c.props[name]; ok {
			return c.expand(r, depth+1)
		}
		return ref
	})
}

// String returns the value of key, or def when unset or empty.
func (c *Conf) String(key, def string) string {
	if v, ok := c.Get(key); ok && v != "" {
		return v
	}
	return def
}

// Int returns the integer value of key, or def when unset or invalid.
func (c *Conf) Int(key string, def int) int {
	if v, ok := c.Get(key); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n
		}
	}
	return def
}

// Bool returns the boolean value of key, or def when unset or invalid.
func (c *Conf) Bool(key string, def bool) bool {
	if v, ok := c.Get(key); ok {
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
			return b
		}
	}
	return def
}

// Millis returns a duration given in milliseconds, or def.
func (c *Conf) Millis(key string, def time.Duration) time.Duration {
	if n := c.Int(key, -1); n >= 0 {
		return time.Duration(n) * time.Millisecond
	}
	return def
}

// Strings returns the comma-separated values of key, trimmed, empty ones
// dropped.
func (c *Conf) Strings(key string) []string {
	v, _ := c.Get(key)
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Map returns every property, expanded: what HDFS's client takes.
func (c *Conf) Map() map[string]string {
	out := make(map[string]string, len(c.props))
	for k := range c.props {
		out[k], _ = c.Get(k)
	}
	return out
}

// Keys returns the property names, sorted.
func (c *Conf) Keys() []string {
	out := make([]string, 0, len(c.props))
	for k := range c.props {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
