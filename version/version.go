// Package version holds the build's version, set at link time with
// -ldflags "-X github.com/seed-ddac166a/aws-secrets-injector/version.Version=v1.2.3".
package version

import "runtime/debug"

// Version is the release version; "dev" for a build without ldflags.
var Version = "dev"

// Commit returns the VCS revision recorded by the Go toolchain, or "unknown".
func Commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// UserAgent is the suffix the project adds to AWS SDK calls so calls can be
// told apart in CloudTrail.
func UserAgent() string { return "aws-secrets-injector/" + Version }
