package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"floe/appmaster"
	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/yarn"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list floe's YARN applications, or the jobs of one (-yid)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "yid", Aliases: []string{"yarnapplicationId"}, Usage: "the YARN `application id` whose jobs to list"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "include finished applications"},
		},
		Action: func(c *cli.Context) error {
			hc, err := conf.Load()
			if err != nil {
				return cli.Exit("list: "+err.Error(), 1)
			}
			ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
			defer cancel()
			rm, err := yarn.NewClient(hc, ipc.WithConnectTimeout(4*time.Second), ipc.WithCallTimeout(10*time.Second))
			if err != nil {
				return cli.Exit("list: "+err.Error(), 1)
			}
			defer rm.Close()
			if id := c.String("yid"); id != "" {
				return listJobs(ctx, c, rm, id)
			}
			f := yarn.AppFilter{Types: []string{"FLOE"}}
			if !c.Bool("all") {
				f.States = []hadooppb.YarnApplicationStateProto{hadooppb.YarnApplicationStateProto_NEW,
					hadooppb.YarnApplicationStateProto_NEW_SAVING, hadooppb.YarnApplicationStateProto_SUBMITTED,
					hadooppb.YarnApplicationStateProto_ACCEPTED, hadooppb.YarnApplicationStateProto_RUNNING}
			}
			apps, err := rm.Applications(ctx, f)
			if err != nil {
				return cli.Exit("list: "+err.Error(), 1)
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "APPLICATION\tNAME\tSTATE\tFINAL STATUS\tTRACKING URL")
			for _, a := range apps {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", yarn.AppIDFromProto(a.GetApplicationId()), a.GetName(),
					a.GetYarnApplicationState(), strings.TrimPrefix(a.GetFinalApplicationStatus().String(), "APP_"), a.GetOriginalTrackingUrl())
			}
			return w.Flush()
		},
	}
}

// listJobs prints the jobs of one application from its REST interface.
func listJobs(ctx context.Context, c *cli.Context, rm *yarn.Client, id string) error {
	appID, err := yarn.ParseApplicationID(id)
	if err != nil {
		return usageError{fmt.Errorf("-yid %q: %w", id, err)}
	}
	rep, err := rm.Report(ctx, appID)
	if errors.Is(err, yarn.ErrUnknownApplication) { // a mistyped or long-gone id: the input is wrong
		return usageError{fmt.Errorf("list: %w; 'floe list' shows floe's applications", err)}
	}
	if err != nil {
		return cli.Exit("list: "+err.Error(), 1)
	}
	if rep.GetYarnApplicationState() != hadooppb.YarnApplicationStateProto_RUNNING {
		fmt.Fprintf(c.App.Writer, "%s is %s (%s)\n", appID, rep.GetYarnApplicationState(),
			strings.TrimPrefix(rep.GetFinalApplicationStatus().String(), "APP_"))
		return nil
	}
	url := strings.TrimSuffix(rep.GetOriginalTrackingUrl(), "/") + "/jobs/overview"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return cli.Exit("list: "+err.Error(), 1)
	}
	defer resp.Body.Close()
	var body struct {
		Jobs []appmaster.JobDetails `json:"jobs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return cli.Exit(fmt.Sprintf("list: %s: %v", url, err), 1)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "JOB\tNAME\tSTATE\tSTART\tDURATION")
	for _, j := range body.Jobs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", j.ID, j.Name, j.State, time.UnixMilli(j.StartTime).Format(time.DateTime),
			(time.Duration(j.Duration) * time.Millisecond).String())
	}
	return w.Flush()
}
