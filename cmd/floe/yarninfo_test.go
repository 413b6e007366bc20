package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"floe/internal/hadoop/conf"
	"floe/internal/testenv"
)

func TestYarnInfoUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	hc := conf.New(map[string]string{"yarn.resourcemanager.address": addr})
	ctx, cancel := context.WithTimeout(context.Background(), yarnInfoTimeout)
	defer cancel()
	start := time.Now()
	err = yarnInfo(ctx, &bytes.Buffer{}, hc)
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "connection refused") ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestYarnInfoSilentRM(t *testing.T) {
	// A server that accepts and never answers: bounded by the timeouts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	hc := conf.New(map[string]string{"yarn.resourcemanager.address": ln.Addr().String()})
	ctx, cancel := context.WithTimeout(context.Background(), yarnInfoTimeout)
	defer cancel()
	start := time.Now()
	err = yarnInfo(ctx, &bytes.Buffer{}, hc)
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > yarnInfoTimeout+2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestYarnInfoIntegration(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	hc, err := conf.LoadDirs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), yarnInfoTimeout)
	defer cancel()
	if err := yarnInfo(ctx, &out, hc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "NodeManagers: ") || !strings.Contains(out.String(), "Applications: ") {
		t.Fatalf("output:\n%s", out.String())
	}
	_ = os.WriteFile(filepath.Join(t.TempDir(), "yarn-info.txt"), out.Bytes(), 0o644)
	t.Logf("\n%s", out.String())
}
