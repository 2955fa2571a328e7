// Package atomicdir writes a complete set of files into a directory so that a
// reader sees either the whole old set or the whole new set, never a mix.
//
// Layout of a managed directory (the same scheme the kubelet uses for Secret
// and ConfigMap volumes):
//
//	dir/..data           -> ..2026_11_27_08_50_00.123456789  (symlink, relative)
//	dir/..2026_11_27_...  the current generation: real files and subdirectories
//	dir/db-user          -> ..data/db-user                    (one symlink per top-level name)
//
// Write validates every path, compares the new set with the current one and
// returns without touching anything when contents and modes are equal (no
// mtime change, no inode change). Otherwise it:
//
//  1. writes the new generation into a fresh "..<timestamp>" directory;
//  2. points a temporary symlink at it and renames that over ..data — the
//     atomic step: from here on every path through ..data resolves into the
//     new generation;
//  3. adds top-level symlinks for new names and removes those of names that
//     are gone;
//  4. removes the old generation.
//
// Callers serialise writes to one directory (the mounter holds a per-volume
// lock). Every path is checked by secrets.ValidatePath; files are created with
// O_EXCL|O_NOFOLLOW inside the fresh generation directory only, so nothing is
// ever written outside dir.
package atomicdir
