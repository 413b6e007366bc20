// Package role names the processes one floe binary can be, and the
// environment through which a process learns its role and its wiring.
//
// A job binary is started as the client (no role set), then again by the
// client or YARN as the JobManager, as TaskManagers, or briefly to print its
// plan; the floe binary itself also runs a session's ApplicationMaster and
// the supervisor in a session's TaskManager containers. internal/launch
// dispatches on the role; this package only names things, so that both the
// side that starts a process and the process itself agree on the names.
package role

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"floe/config"
)

// Role is what a process of the binary does.
type Role string

// The roles.
const (
	// Client builds the job and submits it (the default: no role set).
	Client Role = ""
	// JobManager is a per-job application's ApplicationMaster.
	JobManager Role = "jobmanager"
	// TaskManager runs subtasks: a child of a local run, a YARN container,
	// or a process started by a session's supervisor.
	TaskManager Role = "taskmanager"
	// Plan builds the job graph, writes it to EnvPlanFile and exits.
	Plan Role = "plan"
	// Session is a yarn-session's ApplicationMaster (no job graph of its own).
	Session Role = "session"
	// Supervisor runs in a session's TaskManager containers and starts
	// TaskManager processes of each job's own binary.
	Supervisor Role = "supervisor"
)

// Service reports whether the role runs without a job graph of its own.
func (r Role) Service() bool { return r == Session || r == Supervisor }

// String is the role's name ("client" for the client).
func (r Role) String() string {
	if r == Client {
		return "client"
	}
	return string(r)
}

// Environment variables that carry a process's role and its wiring.
const (
	EnvRole       = "FLOE_ROLE"         // the Role
	EnvConfig     = "FLOE_CONFIG"       // JSON object of configuration keys (or its base64)
	EnvJobManager = "FLOE_JOBMANAGER"   // the JobManager's address
	EnvSecret     = "FLOE_SECRET"       // the application's secret
	EnvSlots      = "FLOE_SLOTS"        // slots of this TaskManager
	EnvResourceID = "FLOE_RESOURCE_ID"  // name of this TaskManager
	EnvPlanFile   = "FLOE_PLAN_FILE"    // where the plan role writes the graph
	EnvJobID      = "FLOE_JOB_ID"       // the job id the JobManager gives the job
	EnvBinary     = "FLOE_BINARY"       // base64 LocalResourceProto of the job binary
	EnvConfFiles  = "FLOE_HADOOP_FILES" // JSON: file name -> base64 LocalResourceProto
	EnvStaging    = "FLOE_STAGING"      // HDFS staging directory of the application
	EnvHadoopUser = "HADOOP_USER_NAME"
)

// BinaryName is the job binary's name in a YARN container's working directory.
const BinaryName = "floe-job"

// Current is this process's role, from its environment.
func Current() (Role, error) {
	r := Role(os.Getenv(EnvRole))
	switch r {
	case Client, JobManager, TaskManager, Plan, Session, Supervisor:
		return r, nil
	}
	return r, fmt.Errorf("%w: %s=%q is not a role (jobmanager, taskmanager, plan, session, supervisor)", config.ErrInvalid, EnvRole, string(r))
}

// ConfigFromEnv reads the configuration handed down in FLOE_CONFIG.
func ConfigFromEnv() (config.Config, error) {
	var c config.Config
	s := os.Getenv(EnvConfig)
	if s == "" {
		return c, nil
	}
	b := []byte(s)
	if !strings.HasPrefix(s, "{") { // base64, as in YARN launch contexts, whose shell quoting JSON does not survive
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return config.Config{}, fmt.Errorf("%s: %w", EnvConfig, err)
		}
		b = raw
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return config.Config{}, fmt.Errorf("%s: %w", EnvConfig, err)
	}
	return c, nil
}

// EnvInt is the integer in environment variable name, or def.
func EnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

// ContainerCommand is a YARN container's command: the job binary with this
// process's arguments, its output in the container's log directory under the
// role's name.
func ContainerCommand(r Role, withArgs bool) string {
	var b strings.Builder
	b.WriteString("./" + BinaryName)
	if withArgs {
		for _, a := range os.Args[1:] {
			b.WriteString(" " + ShellQuote(a))
		}
	}
	name := r.String()
	if r == Session {
		name = "jobmanager"
	} else if r == Supervisor {
		name = "taskmanager"
	}
	fmt.Fprintf(&b, " 1><LOG_DIR>/%s.out 2><LOG_DIR>/%s.log", name, name)
	return b.String()
}

// ShellQuote quotes s for a POSIX shell, leaving plain words as they are.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
