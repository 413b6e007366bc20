// Command worker is the integration tests' container process: it writes
// one file named after its container id into the HDFS directory $FLOE_ITEST_OUT.
package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"time"

	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/yarn/itest"
	"floe/internal/hdfsutil"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	id := os.Getenv("CONTAINER_ID")
	c, err := conf.Load()
	if err != nil {
		return err
	}
	fs, err := hdfsutil.Connect(c, ipc.DefaultUser(), 10*time.Second)
	if err != nil {
		return err
	}
	defer fs.Close()
	out := os.Getenv(itest.EnvOut)
	ctx := context.Background()
	w, err := fs.Create(ctx, path.Join(out, id)) // out made on the way
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "hello from %s on %s\n", id, os.Getenv("NM_HOST")); err != nil {
		w.Close()
		return err
	}
	return w.Close() // waits out replication
}
