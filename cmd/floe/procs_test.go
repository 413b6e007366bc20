package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// floeProcesses finds this machine's floe processes in role (by FLOE_ROLE in
// their environment; the shell of a container's launch script is skipped)
// that match, with the YARN container id each runs in ("" outside YARN).
func floeProcesses(role string, match func(args string, env []string) bool) map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if c := strings.TrimSpace(string(comm)); c == "bash" || c == "sh" {
			continue
		}
		env := strings.Split(string(b), "\x00")
		args, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if !slices.Contains(env, "FLOE_ROLE="+role) || !match(string(args), env) {
			continue
		}
		out[pid] = ""
		for _, v := range env {
			if id, ok := strings.CutPrefix(v, "CONTAINER_ID="); ok {
				out[pid] = id
			}
		}
	}
	return out
}

// containerProcesses are the processes of role whose arguments hold marker,
// with their container ids.
func containerProcesses(role, marker string) map[int]string {
	return floeProcesses(role, func(args string, _ []string) bool { return strings.Contains(args, marker) })
}

// pidsWithRole are the pids of containerProcesses, in order.
func pidsWithRole(role, marker string) []int {
	var pids []int
	for pid := range containerProcesses(role, marker) {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids
}

// taskManagerPIDs are the TaskManager processes whose arguments hold marker.
func taskManagerPIDs(_ testing.TB, marker string) []int { return pidsWithRole("taskmanager", marker) }

// appTaskManagerPIDs are the TaskManager processes of a YARN application.
func appTaskManagerPIDs(app string) []int {
	var pids []int
	for pid, container := range floeProcesses("taskmanager", func(string, []string) bool { return true }) {
		if strings.HasPrefix(container, "container_"+strings.TrimPrefix(app, "application_")+"_") {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}
