// Command am is the integration tests' ApplicationMaster: it registers,
// asks for workers, starts the worker binary in each container, waits for
// them to complete and finishes SUCCEEDED if every one exited 0.
package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/yarn"
	"floe/internal/hadoop/yarn/itest"
)

func main() {
	log := zerolog.New(os.Stderr).With().Timestamp().Str("role", "am").Logger()
	if err := run(log); err != nil {
		log.Error().Err(err).Msg("am failed")
		os.Exit(1)
	}
}

func run(log zerolog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	log.Info().Str("container", os.Getenv("CONTAINER_ID")).Msg("am starting")
	c, err := conf.Load()
	if err != nil {
		return err
	}
	tok, err := yarn.AMRMTokenFromEnvironment()
	if err != nil {
		return err
	}
	rm, err := yarn.NewAMRMClient(c, tok, ipc.WithLogger(log))
	if err != nil {
		return err
	}
	am := yarn.NewAM(rm, yarn.NewNMClient(ipc.WithLogger(log)))
	defer am.Close()
	host, _ := os.Hostname()
	reg, err := am.Register(ctx, host, 0, "")
	if err != nil {
		return err
	}
	log.Info().Int64("max_mb", reg.GetMaximumCapability().GetMemory()).Str("queue", reg.GetQueue()).Msg("registered")

	if os.Getenv(itest.EnvMode) == "sleep" {
		for {
			if _, err := am.Heartbeat(ctx, 0.1); err != nil {
				return err
			}
			time.Sleep(500 * time.Millisecond)
		}
	}

	n, _ := strconv.Atoi(os.Getenv(itest.EnvWorkers))
	raw, err := base64.StdEncoding.DecodeString(os.Getenv(itest.EnvWorkerResource))
	if err != nil {
		return fmt.Errorf("worker resource: %w", err)
	}
	workerRes := &hadooppb.LocalResourceProto{}
	if err := proto.Unmarshal(raw, workerRes); err != nil {
		return fmt.Errorf("worker resource: %w", err)
	}
	for i := 0; i < n; i++ {
		if err := am.Alloc.Add(yarn.ContainerRequest{Resource: yarn.Resource{MemoryMB: 128, VCores: 1}, Priority: 1, Tag: i}); err != nil {
			return err
		}
	}
	launch := yarn.Launch{
		LocalResources: map[string]*hadooppb.LocalResourceProto{"worker": workerRes},
		Env: map[string]string{
			conf.EnvHadoopConfDir: os.Getenv(conf.EnvHadoopConfDir),
			"HADOOP_USER_NAME":    os.Getenv("HADOOP_USER_NAME"),
			itest.EnvOut:          os.Getenv(itest.EnvOut),
		},
		Command: []string{"./worker 1><LOG_DIR>/stdout 2><LOG_DIR>/stderr"},
	}
	succeeded, failed := 0, 0
	var diag string
	for succeeded+failed < n {
		u, err := am.Heartbeat(ctx, float32(succeeded+failed)/float32(n))
		if err != nil {
			return err
		}
		for _, a := range u.Allocated {
			log.Info().Str("container", a.ID().String()).Str("node", a.Node()).Msg("allocated")
			if err := am.Start(ctx, a, launch); err != nil {
				return err
			}
		}
		for _, s := range u.Completed {
			id := yarn.ContainerIDFromProto(s.GetContainerId())
			log.Info().Str("container", id.String()).Int32("exit", s.GetExitStatus()).Str("diagnostics", s.GetDiagnostics()).Msg("completed")
			if s.GetExitStatus() == 0 {
				succeeded++
			} else {
				failed++
				diag += fmt.Sprintf("%s exited %d: %s; ", id, s.GetExitStatus(), s.GetDiagnostics())
			}
		}
		if u.Shutdown {
			return fmt.Errorf("RM ordered a shutdown")
		}
		time.Sleep(300 * time.Millisecond)
	}
	status := hadooppb.FinalApplicationStatusProto_APP_SUCCEEDED
	if failed > 0 {
		status = hadooppb.FinalApplicationStatusProto_APP_FAILED
	} else {
		diag = fmt.Sprintf("%d workers succeeded", succeeded)
	}
	log.Info().Str("status", status.String()).Str("diagnostics", diag).Msg("finishing")
	return am.Finish(ctx, status, diag)
}
