//go:build !purego

package kernels

const hasAsm = true
