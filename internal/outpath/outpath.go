// Package outpath keeps commands from writing over what they read: an
// output folder must not be one of the input folders.
package outpath

import (
	"fmt"
	"os"
	"path/filepath"
)

// CheckNotInput returns an error when the folder out is (after following
// symlinks) one of inputs or the folder holding an input file. flag names
// out in the error ("--out"). Inputs that do not exist are ignored.
func CheckNotInput(flag, out string, inputs ...string) error {
	ost, err := os.Stat(out)
	if err != nil {
		return nil // a new folder cannot be an input
	}
	for _, in := range inputs {
		if in == "" {
			continue
		}
		ist, err := os.Stat(in)
		if err != nil {
			continue
		}
		dir := in
		if !ist.IsDir() {
			dir = filepath.Dir(in)
			if ist, err = os.Stat(dir); err != nil {
				continue
			}
		}
		if os.SameFile(ost, ist) {
			return fmt.Errorf("%s %s is the folder of the input %s: writing there would overwrite it; choose another %s", flag, out, in, flag)
		}
	}
	return nil
}
