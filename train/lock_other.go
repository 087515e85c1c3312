//go:build !unix

package train

// processAlive cannot look processes up here, so every lock counts as live
// and a stale one must be deleted by hand (the error says which file).
func processAlive(pid int) bool { return true }
