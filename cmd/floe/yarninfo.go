package main

import "github.com/urfave/cli/v2"

// yarnInfoCommand is replaced by the YARN client work (issue 3).
func yarnInfoCommand() *cli.Command {
	return &cli.Command{
		Name:  "yarn-info",
		Usage: "print what the ResourceManager says of the cluster",
		Action: func(*cli.Context) error {
			return cli.Exit("floe yarn-info: not implemented yet", 1)
		},
	}
}
