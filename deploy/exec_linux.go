package deploy

import "syscall"

// processAttr puts the program in its own process group, so that a timeout
// kills the scripts and children it started too, not just the program; and
// has the kernel kill it if hookd dies, so that a run resumed after a crash
// never overlaps the orphan of its previous attempt.
func processAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
