package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"floe/datastream"
	"floe/internal/jobs/tpch"
)

var tpchJob = Job{
	Name:  "tpch",
	Usage: tpch.Usage + "; --cpuprofile F and --memprofile F profile the run (local target)",
	Run:   runTPCH,
}

func runTPCH(ctx context.Context, env *datastream.Environment, args []string, stdout io.Writer) error {
	cpu, mem, rest, err := profileFlags(args)
	if err != nil {
		return usageErr("tpch", "%v", err)
	}
	stop, err := startProfiles(cpu, mem)
	if err != nil {
		return err
	}
	err = tpch.Run(ctx, env, rest, stdout)
	if perr := stop(); err == nil {
		err = perr
	}
	if errors.Is(err, tpch.ErrUsage) {
		return usageWrap("tpch", err)
	}
	return err
}

// profileFlags takes --cpuprofile and --memprofile (as "--f v" or "--f=v")
// out of args, for startProfiles, and leaves the query's own flags.
func profileFlags(args []string) (cpu, mem string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "cpuprofile" && name != "memprofile" {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return "", "", nil, fmt.Errorf("flag needs an argument: %s", a)
			}
			i++
			val = args[i]
		}
		if name == "cpuprofile" {
			cpu = val
		} else {
			mem = val
		}
	}
	return cpu, mem, rest, nil
}
