//go:build unix && !linux

package deploy

import "syscall"

// processAttr puts the program in its own process group, so that a timeout
// kills the scripts and children it started too, not just the program.
func processAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
