package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/yarn"
)

// yarnInfoTimeout bounds `floe yarn-info` as a whole, unreachable RM included.
const yarnInfoTimeout = 12 * time.Second

func yarnInfoCommand() *cli.Command {
	return &cli.Command{
		Name:  "yarn-info",
		Usage: "print what the ResourceManager says of the cluster",
		Description: "Prints the live NodeManagers with their capacity and the applications the\n" +
			"ResourceManager knows. Reads the Hadoop configuration from HADOOP_CONF_DIR / YARN_CONF_DIR.",
		Action: func(c *cli.Context) error {
			hc, err := conf.Load()
			if err != nil {
				return cli.Exit("yarn-info: "+err.Error(), 1)
			}
			ctx, cancel := context.WithTimeout(c.Context, yarnInfoTimeout)
			defer cancel()
			if err := yarnInfo(ctx, c.App.Writer, hc); err != nil {
				return cli.Exit("yarn-info: "+err.Error(), 1)
			}
			return nil
		},
	}
}

// yarnInfo writes the cluster's NodeManagers and applications to w. An
// unreachable ResourceManager is one error naming its address and the
// cause.
func yarnInfo(ctx context.Context, w io.Writer, hc *conf.Conf) error {
	addrs, err := hc.RMAddresses()
	if err != nil {
		return err
	}
	attempts := max(2, len(addrs))
	rm, err := yarn.NewClientAt(addrs,
		ipc.WithConnectTimeout(4*time.Second), ipc.WithCallTimeout(8*time.Second),
		ipc.WithRetry(attempts, 300*time.Millisecond, time.Second))
	if err != nil {
		return err
	}
	defer rm.Close()
	nodes, err := rm.Nodes(ctx, hadooppb.NodeStateProto_NS_RUNNING)
	if err != nil {
		return unreachable(ctx, addrs, err)
	}
	apps, err := rm.Applications(ctx, yarn.AppFilter{})
	if err != nil {
		return unreachable(ctx, addrs, err)
	}

	fmt.Fprintf(w, "ResourceManager: %s\n", strings.Join(addrs, ", "))
	fmt.Fprintf(w, "NodeManagers: %d live\n", len(nodes))
	if len(nodes) > 0 {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NODE\tSTATE\tMEMORY MB (used/total)\tVCORES (used/total)\tCONTAINERS\tRACK")
		for _, n := range nodes {
			fmt.Fprintf(tw, "  %s\t%s\t%d/%d\t%d/%d\t%d\t%s\n", yarn.NodeID(n.GetNodeId()),
				strings.TrimPrefix(n.GetNodeState().String(), "NS_"),
				n.GetUsed().GetMemory(), n.GetCapability().GetMemory(),
				n.GetUsed().GetVirtualCores(), n.GetCapability().GetVirtualCores(),
				n.GetNumContainers(), n.GetRackName())
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "Applications: %d\n", len(apps))
	if len(apps) > 0 {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tNAME\tTYPE\tSTATE\tFINAL STATUS\tQUEUE\tUSER")
		for _, a := range apps {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", yarn.AppIDFromProto(a.GetApplicationId()),
				a.GetName(), a.GetApplicationType(), a.GetYarnApplicationState(),
				strings.TrimPrefix(a.GetFinalApplicationStatus().String(), "APP_"), a.GetQueue(), a.GetUser())
		}
		tw.Flush()
	}
	return nil
}

// unreachable says in one line which ResourceManager failed and why.
func unreachable(ctx context.Context, addrs []string, err error) error {
	var re *ipc.RemoteError
	if errors.As(err, &re) {
		return fmt.Errorf("ResourceManager %s: %s", strings.Join(addrs, ", "), re.Error())
	}
	cause := err.Error()
	var oe *net.OpError
	switch {
	case errors.As(err, &oe):
		cause = oe.Error()
	case ctx.Err() != nil:
		cause = fmt.Sprintf("no answer within %v", yarnInfoTimeout)
	}
	return fmt.Errorf("cannot reach the ResourceManager at %s: %s", strings.Join(addrs, ", "), cause)
}
