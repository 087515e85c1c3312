package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version describes this binary from the build information the Go
// toolchain embeds: the module version (a tag for `go install ...@v1.2.3`,
// "(devel)" for a build from a checkout) and, for builds from a git
// checkout, the commit, its time and whether the tree had uncommitted
// changes. It is what a bug report should quote.
func version() string {
	v := "golora"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v + " (no build information) " + runtime.Version()
	}
	v += " " + bi.Main.Version
	set := map[string]string{}
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	if rev := set["vcs.revision"]; rev != "" {
		vcs := []string{set["vcs"] + " " + rev}
		if t := set["vcs.time"]; t != "" {
			vcs = append(vcs, t)
		}
		if set["vcs.modified"] == "true" {
			vcs = append(vcs, "modified")
		}
		v += " (" + strings.Join(vcs, ", ") + ")"
	}
	return fmt.Sprintf("%s %s %s/%s", v, bi.GoVersion, runtime.GOOS, runtime.GOARCH)
}

func init() {
	rootCmd.Version = version()
	rootCmd.SetVersionTemplate("{{.Version}}\n") // cobra's default repeats the name
	rootCmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print golora's version, VCS revision and Go version (as --version)",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version())
		},
	})
}
