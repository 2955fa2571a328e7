package spc

import (
	"fmt"
	"strings"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// Why texts of the file-name verdicts stricter than the AWS provider's.
const (
	whyOutside   = "the AWS provider accepts this, but it would write outside the mount"
	whyReserved  = "the AWS provider accepts this, but such a file could replace ..data or a timestamped directory, through which the pod reads every file"
	whyAmbiguous = "the AWS provider accepts this, but \"a/./b\" and \"a//b\" name the file \"a/b\": two objects could write one file unnoticed"
	whyOSLimit   = "the AWS provider accepts this and fails when it writes; this is refused before any AWS call"
	whyUTF8      = "file names must be valid UTF-8 so that listings, events and logs can print them"
	whyCollision = "the AWS provider accepts this, but both would write the same file: one value would silently replace the other"
	whyNesting   = "the AWS provider accepts this, but a path cannot be both a file and a directory: the mount would fail when the files are written"
)

// checkPath records an error when p is not a valid file path of a set
// (secrets.PathProblem), saying why when the AWS provider would accept it.
func checkPath(c *collector, i int, name, field, p string) {
	if prob := secrets.PathProblem(p); prob != "" {
		c.refuse(i, name, field, "use a relative file name without \"..\" elements, at most 255 bytes per element (set objectAlias if the object name does not make one)",
			pathWhy(p), "file name %s", prob)
	}
}

// pathWhy says why an invalid path is refused although the AWS provider would
// write it, or "" when the AWS provider refuses it too (its check: no "../"
// at the start, no "/../" inside, no "/.." at the end).
func pathWhy(p string) string {
	if strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
		return ""
	}
	switch {
	case p == "":
		return ""
	case len(p) > secrets.MaxPathBytes || strings.ContainsRune(p, 0):
		return whyOSLimit
	case strings.HasPrefix(p, "/"):
		return whyOutside
	}
	why := ""
	for _, el := range strings.Split(p, "/") {
		switch {
		case el == "..":
			return whyOutside
		case el == "" || el == ".":
			why = whyAmbiguous
		case strings.HasPrefix(el, ".."):
			return whyReserved
		case len(el) > secrets.MaxNameBytes && why == "":
			why = whyOSLimit
		}
	}
	if why == "" {
		why = whyUTF8
	}
	return why
}

// translate maps an object name or alias to a file name as the AWS provider does:
// "/" becomes the translation character, or with translation disabled a leading "/" is dropped.
func translate(tr, name string) string {
	if tr == "" {
		return strings.TrimLeft(name, "/")
	}
	return strings.ReplaceAll(name, "/", tr)
}

// owner is the source of one fixed file name.
type owner struct {
	field string
	obj   *Object
	// alias is the objectAlias as written ("" when the name comes from objectName).
	alias string
}

// providerRefuses reports whether the AWS provider itself refuses two sources
// of one file name: the same alias twice, or the same objectName twice with
// the same version label and no alias.
func providerRefuses(a, b owner) bool {
	if a.alias != "" || b.alias != "" {
		return a.alias == b.alias
	}
	return a.obj.Name == b.obj.Name && a.obj.VersionLabel == b.obj.VersionLabel
}

// checkNames checks the fixed file names of the whole class (objects' files
// and jmesPath aliases; an allKeys object's names are known only at fetch, and
// extract checks them): no two alike, none differing only by case (a
// warning), and none a file where another needs a directory ("a" beside
// "a/b"). Every name already passed secrets.PathProblem.
func checkNames(c *collector, s *Spec) {
	seen := map[string]owner{}
	folded := map[string]string{}
	var order []string
	add := func(own owner, p string) {
		if p == "" {
			return
		}
		o := own.obj
		if prev, dup := seen[p]; dup {
			why := whyCollision
			if providerRefuses(prev, own) {
				why = ""
			}
			c.refuse(o.Index, o.Name, own.field, "give one of them a different objectAlias", why,
				"file name %s is already used by %s (object %s)", secrets.Quote(p), prev.field, secrets.Quote(prev.obj.Name))
			return
		}
		seen[p] = own
		order = append(order, p)
		if prev, ok := folded[strings.ToLower(p)]; ok {
			c.warnf(o.Index, o.Name, own.field, "use names that differ by more than case", "file name %s differs from %s only by case", secrets.Quote(p), secrets.Quote(prev))
		}
		folded[strings.ToLower(p)] = p
	}
	for i := range s.Objects {
		o := &s.Objects[i]
		f := fmt.Sprintf("objects[%d]", o.Index)
		add(owner{field: f + aliasOr(o.Alias, ".objectAlias", ".objectName"), obj: o, alias: o.Alias}, o.FileName)
		for k, j := range o.JMESPath {
			add(owner{field: fmt.Sprintf("%s.jmesPath[%d].objectAlias", f, k), obj: o, alias: j.alias}, j.FileName)
		}
	}
	checkNesting(c, seen, order)
}

// checkNesting finds a file name that another name needs as a directory.
//
//  1. Record every directory the names need, with the first name needing it:
//     the prefixes before each "/", longest first; a prefix already recorded
//     has its shorter ones recorded too, so the walk stops there (the work is
//     bounded by the distinct prefixes, not by names times depth).
//  2. A name that is also a recorded directory is an error, reported at the
//     nested name (the one that cannot be written).
func checkNesting(c *collector, seen map[string]owner, order []string) {
	dirs := map[string]string{} // directory → the first name under it
	for _, p := range order {
		for i := strings.LastIndexByte(p, '/'); i > 0; i = strings.LastIndexByte(p[:i], '/') {
			if _, done := dirs[p[:i]]; done {
				break
			}
			dirs[p[:i]] = p
		}
	}
	for _, p := range order {
		under, isDir := dirs[p]
		if !isDir {
			continue
		}
		file, nested := seen[p], seen[under]
		o := nested.obj
		c.refuse(o.Index, o.Name, nested.field, "rename one of them: a name cannot be both a file and a directory", whyNesting,
			"file name %s needs %s to be a directory, but %s (object %s) writes a file there",
			secrets.Quote(under), secrets.Quote(p), file.field, secrets.Quote(file.obj.Name))
	}
}
