package main

import (
	"github.com/gitboot/gitboot/internal/wwimport"
	"github.com/spf13/cobra"
)

func newImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Turn another provisioner's configuration into a gitboot repository",
	}
	cmd.AddCommand(newImportWarewulfCmd())
	return cmd
}

func newImportWarewulfCmd() *cobra.Command {
	var cfg wwimport.Config
	cmd := &cobra.Command{
		Use:   "warewulf --nodes-conf FILE [--warewulf-conf FILE] [--overlays DIR] [--images DIR] --out DIR",
		Short: "Import a Warewulf 4.6/4.7 site: nodes.conf, warewulf.conf and overlays",
		Long: "Write a gitboot repository into --out from Warewulf's nodes.conf (profiles, nodes, network\n" +
			"devices, IPMI), warewulf.conf (the server block) and overlays (static files copied,\n" +
			"templates translated where they only read fields gitboot has). Runs of nodes that differ\n" +
			"only by number, MAC and address become one for_each over a MAC file. MIGRATION.md in --out\n" +
			"lists everything not mapped, with where it was and what to do. IPMI user names and\n" +
			"passwords go to OUT.bmc-credentials.hcl beside --out (--bmc-credentials), never into it.\n" +
			"Importing again into the same directory changes nothing. The result is validated like\n" +
			"`gitboot validate`. Exit status 0 when imported, 1 when an input cannot be read or the\n" +
			"result does not validate.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return wwimport.Command(cmd.OutOrStdout(), cmd.ErrOrStderr(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.NodesConf, "nodes-conf", "", "Warewulf's nodes.conf (required)")
	f.StringVar(&cfg.WarewulfConf, "warewulf-conf", "", "Warewulf's warewulf.conf: the server block")
	f.StringVar(&cfg.OverlaysDir, "overlays", "", "the directory of Warewulf's overlays (each NAME/ or NAME/rootfs/)")
	f.StringVar(&cfg.ImagesDir, "images", wwimport.DefaultImagesDir, "where the images are on the gitboot server (IMAGE/rootfs below it)")
	f.StringVar(&cfg.Out, "out", "", "the repository directory to write (required)")
	f.StringVar(&cfg.Credentials, "bmc-credentials", "", "the BMC credentials file to write (default OUT.bmc-credentials.hcl)")
	_ = cmd.MarkFlagRequired("nodes-conf")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
