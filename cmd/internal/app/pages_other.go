//go:build !linux

package app

// shedExecutablePages does nothing off Linux.
func shedExecutablePages() int64 { return 0 }
