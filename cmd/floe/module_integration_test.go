package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"floe/internal/fsys"
	"floe/internal/testenv"
)

// A job written the way users write jobs: in a Go module of its own that
// requires floe and may import only floe's public packages. If a public
// signature names an internal type the job needs, the build below fails
// with the compiler's message.

// userJobMain is the job. It reads a key of its own from the configuration
// (set in code with --greeting, or with -D userjob.greeting=...), sums
// generated numbers per key and writes "key<TAB>sum" lines; with --fail a
// map function after the sums panics and it exits 3 when Execute's error is
// the public job-failed error. The panic sits after the keyed exchange on
// purpose: a task that fails while it produces into an exchange releases its
// partitions before it reports, so its consumers' "result partition
// released: producer FAILED" often reaches the JobManager first and becomes
// the job's cause instead of the panic.
const userJobMain = `// Command userjob is a floe job in a module of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"floe/client"
	"floe/config"
	"floe/datastream"
)

// Total is a key and the sum of its numbers.
type Total struct {
	Key string
	Sum int64
}

func main() {
	events := flag.Int64("events", 1000, "numbers to generate")
	keys := flag.Int64("keys", 7, "distinct keys")
	greeting := flag.String("greeting", "", "set userjob.greeting in code (else -D userjob.greeting=...)")
	output := flag.String("output", "", "output directory (local or hdfs://)")
	fail := flag.Bool("fail", false, "make a map function panic")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var opts []datastream.Option
	if *greeting != "" {
		opts = append(opts, datastream.WithConfig(config.New(map[string]string{"userjob.greeting": *greeting})))
	}
	if *fail {
		opts = append(opts, datastream.WithConfig(config.New(map[string]string{config.RestartType: "none"})))
	}
	env := datastream.NewEnvironment(opts...)
	env.SetRuntimeMode(datastream.Batch)
	hello := env.Config().String("userjob.greeting", "hello")

	nums := datastream.Generate(env, func(i int64) int64 { return i }, datastream.GeneratorOptions{Count: *events})
	totals := datastream.Map(nums, func(i int64) Total {
		return Total{Key: hello + "-" + strconv.FormatInt(i%*keys, 10), Sum: i}
	}).Name("Label")
	sums := datastream.Sum(datastream.KeyBy(totals, func(t Total) string { return t.Key }),
		func(t *Total) *int64 { return &t.Sum })
	sums = datastream.Map(sums, func(t Total) Total {
		if *fail {
			panic(fmt.Sprintf("userjob: sum of %s refused on purpose", t.Key))
		}
		return t
	}).Name("Check")
	if *output != "" {
		datastream.WriteText(sums, *output, func(t Total) string { return t.Key + "\t" + strconv.FormatInt(t.Sum, 10) })
	} else {
		datastream.Discard(sums)
	}

	res, err := env.Execute(ctx, "userjob")
	switch {
	case err == nil && *fail:
		fmt.Fprintln(os.Stderr, "userjob: the job succeeded although its function panics")
		os.Exit(1)
	case err == nil:
		fmt.Printf("userjob: %s with greeting %q, %d vertices\n", res.Status, hello, len(res.Vertices))
	case errors.Is(err, client.ErrJobFailed):
		fmt.Fprintln(os.Stderr, "userjob: job failed:", err)
		os.Exit(3)
	case errors.Is(err, client.ErrJobCanceled):
		fmt.Fprintln(os.Stderr, "userjob: job canceled:", err)
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "userjob:", err)
		os.Exit(1)
	}
}
`

// userJobExitFailed is the code userjob exits with when errors.Is(err, client.ErrJobFailed).
const userJobExitFailed = 3

// goOutput runs `go <args>` in dir and returns its trimmed output.
func goOutput(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, b)
	}
	return strings.TrimSpace(string(b))
}

// buildUserJob writes userjob's module next to nothing of floe's, pointing
// at this checkout with a replace, and builds it from the module cache.
func buildUserJob(t *testing.T) string {
	t.Helper()
	// The checkout this test runs in: the main module of the working directory.
	info := strings.Fields(goOutput(t, ".", nil, "list", "-m", "-f", "{{.Path}} {{.Dir}} {{.GoVersion}}"))
	if len(info) != 3 || info[0] != "floe" {
		t.Fatalf("go list -m: %q, want the floe module, its directory and Go version", info)
	}
	root, goVersion := info[1], info[2]
	proxy := goOutput(t, ".", nil, "env", "GOPROXY")

	mod := t.TempDir()
	gomod := fmt.Sprintf("module example.com/userjob\n\ngo %s\n\nrequire floe v0.0.0\n\nreplace floe => %s\n", goVersion, root)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(userJobMain)} {
		if err := os.WriteFile(filepath.Join(mod, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// -mod=mod lets go add floe's own requirements to go.mod; with floe's
	// go.sum they all come from the module cache.
	env := []string{"GOFLAGS=-mod=mod", "GOPROXY=" + proxy, "GOWORK=off", "CGO_ENABLED=0"}
	bin := filepath.Join(t.TempDir(), "userjob")
	goOutput(t, mod, env, "build", "-o", bin, ".")
	return bin
}

// removeHDFS removes an HDFS directory a test wrote.
func removeHDFS(t *testing.T, uri string) {
	fsy, p, err := fsys.Resolve(uri)
	if err != nil {
		t.Error(err)
		return
	}
	if err := fsy.RemoveAll(context.Background(), p); err != nil {
		t.Errorf("remove %s: %v", uri, err)
	}
}

// userJobSums is userjob's result computed independently: for numbers
// 0..events-1, the sum of those with each remainder modulo keys.
func userJobSums(greeting string, events, keys int64) map[string]int64 {
	want := map[string]int64{}
	for i := range events {
		want[fmt.Sprintf("%s-%d", greeting, i%keys)] += i
	}
	return want
}

func TestIntegrationJobInOwnModule(t *testing.T) {
	dir := testenv.HadoopConfDir(t)
	t.Setenv("HADOOP_CONF_DIR", dir) // readOutput reads hdfs:// through it
	job := buildUserJob(t)
	const events, keys = 5000, 7

	run := func(t *testing.T, args ...string) result {
		t.Helper()
		cmd := exec.Command(job, args...)
		cmd.Env = append(os.Environ(), "HADOOP_CONF_DIR="+dir)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			<-done
			t.Fatalf("userjob %v did not finish", args)
		}
		return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
	}

	t.Run("local", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		r := run(t, "--events", fmt.Sprint(events), "--keys", fmt.Sprint(keys), "--greeting", "hola", "--output", out)
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if want := `userjob: FINISHED with greeting "hola"`; !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q (the client.Result the job read):\n%s", want, r.stdout)
		}
		if got, want := readOutput(t, out), userJobSums("hola", events, keys); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("sums differ:\n got %v\nwant %v", got, want)
		}

		r = run(t, "--fail")
		if r.code != userJobExitFailed || !strings.Contains(r.stderr, "refused on purpose") {
			t.Fatalf("--fail: exit %d, want %d (errors.Is(err, client.ErrJobFailed)) and the panic's message\nstderr: %s",
				r.code, userJobExitFailed, r.stderr)
		}
	})

	t.Run("yarn-per-job", func(t *testing.T) {
		env := []string{"HADOOP_CONF_DIR=" + dir}
		base := fmt.Sprintf("hdfs:///tmp/floe-it/userjob-%d", time.Now().UnixNano())
		t.Cleanup(func() { removeHDFS(t, base) })
		out := base + "/out"
		// The greeting comes from -D this time: every process of the job
		// (client, ApplicationMaster, TaskManagers) must see it.
		r := floe(t, env, "run", "-t", "yarn-per-job", "-p", "2", "-jm", "256m", "-tm", "256m",
			"-D", "userjob.greeting=servus", job, "--events", fmt.Sprint(events), "--keys", fmt.Sprint(keys), "--output", out)
		if r.code != 0 || !strings.Contains(r.stdout, "Submitted application") || !strings.Contains(r.stdout, "FINISHED") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if want := `userjob: FINISHED with greeting "servus"`; !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q (the client.Result the job read):\n%s", want, r.stdout)
		}
		if got, want := readOutput(t, out), userJobSums("servus", events, keys); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("sums differ:\n got %v\nwant %v", got, want)
		}

		r = floe(t, env, "run", "-t", "yarn-per-job", "-p", "2", "-jm", "256m", "-tm", "256m", job, "--fail")
		if r.code != userJobExitFailed || !strings.Contains(r.stderr, "refused on purpose") {
			t.Fatalf("--fail: exit %d, want %d (errors.Is(err, client.ErrJobFailed)) and the panic's message\nstdout: %s\nstderr: %s",
				r.code, userJobExitFailed, r.stdout, r.stderr)
		}
	})
}
