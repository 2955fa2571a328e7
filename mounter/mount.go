package mounter

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"
)

// NewSyscallMounter returns the production mount.Interface: mount-utils for
// the read side (mount point checks, /proc/self/mountinfo) and mount(2) /
// umount(2) for Mount and Unmount, so the image needs no mount binary.
func NewSyscallMounter() mount.Interface {
	return &syscallMounter{Interface: mount.New("")}
}

type syscallMounter struct {
	mount.Interface
}

// mountFlags maps the options this package uses to mount(2) flags.
var mountFlags = map[string]uintptr{
	"ro":      unix.MS_RDONLY,
	"nosuid":  unix.MS_NOSUID,
	"nodev":   unix.MS_NODEV,
	"noexec":  unix.MS_NOEXEC,
	"bind":    unix.MS_BIND,
	"remount": unix.MS_REMOUNT,
}

// Mount mounts source at target. With "bind" in options it bind-mounts and,
// when other flags are given, remounts the bind with them (a bind mount takes
// "ro" only on remount). Options that are not flags become the data string
// (e.g. tmpfs size= and mode=).
func (m *syscallMounter) Mount(source, target, fstype string, options []string) error {
	var flags uintptr
	var data []string
	for _, o := range options {
		if f, ok := mountFlags[o]; ok {
			flags |= f
			continue
		}
		if o == "rw" || o == "defaults" {
			continue
		}
		data = append(data, o)
	}
	if flags&unix.MS_BIND != 0 {
		if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount %s at %s: %w", source, target, err)
		}
		rest := flags &^ unix.MS_BIND
		if rest == 0 {
			return nil
		}
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|rest, ""); err != nil {
			_ = unix.Unmount(target, 0)
			return fmt.Errorf("remount bind at %s: %w", target, err)
		}
		return nil
	}
	if err := unix.Mount(source, target, fstype, flags, strings.Join(data, ",")); err != nil {
		return fmt.Errorf("mount %s (%s) at %s: %w", source, fstype, target, err)
	}
	return nil
}

// MountSensitive is Mount; this package has no sensitive options.
func (m *syscallMounter) MountSensitive(source, target, fstype string, options, sensitive []string) error {
	return m.Mount(source, target, fstype, append(options, sensitive...))
}

// MountSensitiveWithoutSystemd is Mount.
func (m *syscallMounter) MountSensitiveWithoutSystemd(source, target, fstype string, options, sensitive []string) error {
	return m.MountSensitive(source, target, fstype, options, sensitive)
}

// MountSensitiveWithoutSystemdWithMountFlags is Mount with the extra flags.
func (m *syscallMounter) MountSensitiveWithoutSystemdWithMountFlags(source, target, fstype string, options, sensitive, flags []string) error {
	return m.MountSensitive(source, target, fstype, append(options, flags...), sensitive)
}

// Unmount unmounts target; a target that is not mounted is an error (EINVAL).
func (m *syscallMounter) Unmount(target string) error {
	if err := unix.Unmount(target, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

// isMounted reports whether p is a mount point; a missing p is not mounted,
// a corrupted mount (e.g. ENOTCONN) counts as mounted so it gets unmounted.
func isMounted(m mount.Interface, p string) (bool, error) {
	ok, err := m.IsMountPoint(p)
	switch {
	case err == nil:
		return ok, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case mount.IsCorruptedMnt(err):
		return true, nil
	}
	return false, err
}
