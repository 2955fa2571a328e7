package spc

import (
	"io/fs"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/jmespath"
)

// ObjectType is where an object lives.
type ObjectType string

// The object types the AWS provider accepts.
const (
	SecretsManager ObjectType = "secretsmanager"
	SSMParameter   ObjectType = "ssmparameter"
)

// DefaultFileMode is the mode of a file whose filePermission is not set, unless
// Options.DefaultFileMode says otherwise.
const DefaultFileMode fs.FileMode = 0o644

// Spec is a validated SecretProviderClass parameter set.
type Spec struct {
	// Region is the primary region: parameters.region, else Options.DefaultRegion; may be
	// empty when neither is known (the fetcher then uses the SDK's own configuration).
	Region string
	// FailoverRegion is tried only when the primary region fails with a 5xx or network error.
	FailoverRegion string
	// PathTranslation replaces "/" in file names; empty when translation is disabled ("False").
	PathTranslation string
	// UsePodIdentity selects EKS Pod Identity instead of IRSA (CSI mode).
	UsePodIdentity bool
	// PreferredAddressType is the Pod Identity agent address family: "ipv4", "ipv6" or "auto" (default).
	PreferredAddressType string
	// RefreshInterval (our addition, parameter refreshInterval) overrides the rotation
	// interval; zero means the component's default.
	RefreshInterval time.Duration
	// AssumeRole (our addition, parameters assumeRoleArn,
	// assumeRoleExternalId, assumeRoleDurationSeconds) is a role to assume
	// with the pod's credentials before reading the objects; nil when unset.
	AssumeRole *AssumeRole
	// Objects are the objects to fetch, in the order they were listed.
	Objects []Object
}

// Object is one entry of the objects list.
type Object struct {
	// Index is the position in the objects list.
	Index int
	// Name is objectName: a name or an ARN.
	Name string
	// Type is objectType, or the type implied by the ARN.
	Type ObjectType
	// Alias is objectAlias as written ("" when unset).
	Alias string
	// Version is objectVersion: a VersionId (Secrets Manager) or a version number (SSM).
	Version string
	// VersionLabel is objectVersionLabel: a staging label (Secrets Manager) or a parameter label (SSM).
	VersionLabel string
	// Mode is the resolved filePermission of the object's file (Options.DefaultFileMode, else
	// DefaultFileMode, when unset).
	Mode fs.FileMode
	// FileName is the relative path of the file holding the whole value.
	FileName string
	// JMESPath lists the extractions, each to its own file.
	JMESPath []JMESPathEntry
	// AllKeys (our addition) writes every top-level key of a JSON value as its own file.
	AllKeys bool
	// Failover is the object to read in the failover region, if any.
	Failover *Failover
}

// JMESPathEntry is one extraction from a JSON value.
type JMESPathEntry struct {
	// Path is the JMESPath expression as written.
	Path string
	// FileName is the relative path of the file (objectAlias after path translation).
	FileName string
	// Mode is the file's mode: its filePermission, else the object's.
	Mode fs.FileMode
	// AllowNonString (our addition) writes numbers, booleans, objects and arrays as JSON text
	// instead of failing.
	AllowNonString bool
	// Expr is the compiled expression.
	Expr *jmespath.Expression

	// alias is objectAlias as written (before path translation), for the
	// checks that compare names as the AWS provider compares them.
	alias string
}

// Failover names the object read in the failover region.
type Failover struct {
	Name         string
	Version      string
	VersionLabel string
}

// Ref identifies one value to fetch: the unit of deduplication and caching.
type Ref struct {
	Type         ObjectType
	Name         string
	Version      string
	VersionLabel string
}

// Ref returns the primary-region reference of o.
func (o *Object) Ref() Ref {
	return Ref{Type: o.Type, Name: o.Name, Version: o.Version, VersionLabel: o.VersionLabel}
}

// FailoverRef returns the reference to read in the failover region: the failover
// object when set, else the same reference.
func (o *Object) FailoverRef() Ref {
	if o.Failover == nil {
		return o.Ref()
	}
	return Ref{Type: o.Type, Name: o.Failover.Name, Version: o.Failover.Version, VersionLabel: o.Failover.VersionLabel}
}

// PlannedFile is a file the class will produce, for listings (validate, fetch --list).
type PlannedFile struct {
	// Path is the file's relative path; for allKeys it is "<each top-level key>".
	Path string
	Mode fs.FileMode
	// Object is the index of the source object.
	Object int
	// ObjectName is the source object's name.
	ObjectName string
	// JMESPath is the extraction expression, empty for the whole value.
	JMESPath string
}

// AllKeysPlaceholder stands for the files an allKeys object produces, unknown until fetch.
const AllKeysPlaceholder = "<each top-level key>"

// Plan lists the files the class produces, in order.
func (s *Spec) Plan() []PlannedFile {
	var out []PlannedFile
	for i := range s.Objects {
		o := &s.Objects[i]
		out = append(out, PlannedFile{Path: o.FileName, Mode: o.Mode, Object: o.Index, ObjectName: o.Name})
		for _, j := range o.JMESPath {
			out = append(out, PlannedFile{Path: j.FileName, Mode: j.Mode, Object: o.Index, ObjectName: o.Name, JMESPath: j.Path})
		}
		if o.AllKeys {
			out = append(out, PlannedFile{Path: AllKeysPlaceholder, Mode: o.Mode, Object: o.Index, ObjectName: o.Name, JMESPath: "keys(@)"})
		}
	}
	return out
}
