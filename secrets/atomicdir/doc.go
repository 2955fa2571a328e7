// Package atomicdir owns the one writer of every file set the project
// delivers: it writes a complete set of files into a directory so that a
// reader sees either the whole old set or the whole new set, never a mix, and
// so that a writer killed at any moment leaves a directory the next write
// repairs.
//
// Layout of a managed directory (the same scheme the kubelet uses for Secret
// and ConfigMap volumes):
//
//	dir/..data           -> ..2026_11_27_08_50_00.123456789  (symlink, relative)
//	dir/..2026_11_27_...  the current generation: real files and subdirectories
//	dir/db-user          -> ..data/db-user                    (one symlink per top-level name)
//
// A pod opens dir/db-user; the kernel resolves it through ..data into the
// generation ..data names at that moment.
//
// # The write
//
// Write validates every path (secrets.ValidatePath), then compares the new
// set with the current generation. When contents and modes are equal it
// rewrites nothing (no mtime change, no inode change, changed is false), but
// still repairs the directory: it removes stale generations and a stale
// ..data_tmp, adds missing top-level links and removes links of names the set
// does not hold. Otherwise:
//
//  1. It removes what earlier crashed writes left: every generation directory
//     but the current one and a ..data_tmp symlink (best effort; step 5
//     retries), first, so their space is free for the new set.
//  2. It writes the new generation into a fresh "..<timestamp>" directory, no
//     reader can reach it yet. Files are created with O_EXCL|O_NOFOLLOW inside
//     that directory only, so nothing is ever written outside dir.
//  3. It adds a "name -> ..data/name" link for each top-level name new in this
//     set. Until step 4 such a link resolves into the old generation, which
//     lacks the name: opening it fails exactly as if it were absent.
//  4. It points ..data_tmp at the new generation and renames it over ..data.
//     The rename is the commit point: from it on every top-level name
//     resolves into the new generation.
//  5. It removes the links of names that are gone (they dangle since step 4)
//     and every generation but the new one.
//
// A failure in steps 2 to 4 removes what this write created (its partial
// generation, its ..data_tmp, the links it added) and nothing else; the error
// has reason.WriteFailed and says the files in place were kept, and, when the
// volume is full (ENOSPC, EDQUOT), to raise its size. A failure in step 5
// never undoes the commit: Write reports changed true and an error wrapping
// ErrCleanup, the new set being served.
//
// # Guarantees
//
//   - What a reader sees: at every instant, reading through the top-level
//     names gives exactly the generation ..data names: the whole old set
//     until the rename of step 4, the whole new set after it. A name of the
//     other set may be listed as a dangling link; opening it fails as for an
//     absent file. A reader that opens one file before a swap and the next
//     after it sees one file of each set; a reader needing several files of
//     one set resolves ..data once (os.Readlink) and reads below it.
//   - What a crash leaves: a writer killed at any step (SIGKILL, OOM) leaves
//     the old set or the new set served whole, and at most a partial or an
//     old generation, a ..data_tmp and dangling links, none reachable through
//     a top-level name.
//   - What the next write repairs: any Write, changed or not, and Repair,
//     remove all of that and add missing links, leaving exactly ..data, one
//     generation and one link per top-level name. Verify reports whether a
//     directory is in that state (the readiness check).
//
// Only entries the writer creates are ever removed: directories named like a
// generation ("..", a timestamp, digits), a ..data_tmp symlink, and links
// "name -> ..data/name". Any other entry of dir is left alone; a write whose
// top-level name is taken by one fails before the swap.
//
// Durability against power loss is not attempted (no fsync): the volumes are
// tmpfs and memory emptyDirs, which a power loss empties anyway.
//
// Callers serialise writes to one directory (the mounter holds a per-volume
// lock); Repair and Write must not run concurrently on one directory. Names
// in errors are printed through secrets.Quote, never raw, and never a value.
package atomicdir
