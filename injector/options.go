package injector

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/pflag"

	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
)

// Options configure Run. Values not given as flags come from the environment
// contract (see the package doc) when Validate runs.
type Options struct {
	// MountPath is the directory to fill: the memory emptyDir's mount path.
	MountPath string
	// RefreshInterval is 0 for one-shot, else the time between refreshes.
	RefreshInterval time.Duration
	// Deadline bounds the first fill; transient AWS errors are retried within it.
	Deadline time.Duration
	// Jitter spreads refreshes: each wait is RefreshInterval × (1 ± Jitter), 0 ≤ Jitter < 1.
	Jitter float64
	// Check makes Run a startup probe: succeed when a complete set is in MountPath, touch nothing.
	Check bool

	// Params are the SecretProviderClass parameters (from contract.EnvSPC).
	Params map[string]string
	// ClassName is "namespace/name" of the class, for messages (from contract.EnvSPCName).
	ClassName string

	flags *pflag.FlagSet
	// getenv reads the contract (os.Getenv when nil).
	getenv func(string) string
	// loadConfig loads the AWS configuration (the SDK default chain when nil).
	loadConfig func(ctx context.Context) (aws.Config, error)
	// fetch tunes the fetcher (tests shorten the SDK's backoff).
	fetch awsfetch.Options
	// terminationLog is the termination message file (DefaultTerminationLog when empty).
	terminationLog string
	// minBackoff and maxBackoff bound the first fill's retry delays (defaults when zero).
	minBackoff, maxBackoff time.Duration
}

// AddFlags registers the inject flags. Their defaults shown in help are the
// built-in ones; unset flags take the contract's environment values.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.flags = fs
	fs.StringVar(&o.MountPath, contract.FlagMountPath, "", "directory to fill, the memory emptyDir's mount path (default $"+contract.EnvMountPath+")")
	fs.DurationVar(&o.RefreshInterval, contract.FlagRefreshInterval, 0, "keep running and refresh at this interval; 0 = write once and exit (default $"+contract.EnvRefreshInterval+")")
	fs.DurationVar(&o.Deadline, contract.FlagDeadline, contract.DefaultDeadline, "total time to write the first complete set; transient AWS errors are retried within it (default $"+contract.EnvDeadline+" or 2m)")
	fs.Float64Var(&o.Jitter, contract.FlagJitter, contract.DefaultJitter, "spread each refresh wait by ± this fraction of the interval (0 ≤ jitter < 1)")
	fs.BoolVar(&o.Check, contract.FlagCheck, false, "startup probe: exit 0 when a complete file set is in the mount path, else 1; never contacts AWS")
}

func (o *Options) changed(name string) bool {
	return o.flags != nil && o.flags.Changed(name)
}

// Validate fills what the flags left unset from the environment contract and
// checks every value. Errors name the flag or the environment variable.
func (o *Options) Validate() error {
	getenv := o.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if !o.changed(contract.FlagMountPath) && o.MountPath == "" {
		p, err := contract.MountPathFromEnv(getenv)
		if err != nil {
			return err
		}
		o.MountPath = p
	} else if err := contract.CheckMountPath("--"+contract.FlagMountPath, o.MountPath); err != nil {
		return err
	}
	if o.Check {
		return nil // the probe needs the mount path only
	}
	if o.changed(contract.FlagRefreshInterval) {
		d, err := contract.ParseRefresh("--"+contract.FlagRefreshInterval, o.RefreshInterval.String())
		if err != nil {
			return err
		}
		o.RefreshInterval = d
	} else if o.RefreshInterval == 0 {
		d, err := contract.RefreshFromEnv(getenv)
		if err != nil {
			return err
		}
		o.RefreshInterval = d
	}
	if !o.changed(contract.FlagDeadline) {
		d, err := contract.DeadlineFromEnv(getenv)
		if err != nil {
			return err
		}
		if d > 0 {
			o.Deadline = d
		}
	}
	if o.Deadline == 0 {
		o.Deadline = contract.DefaultDeadline
	}
	if o.Deadline < 0 {
		return fmt.Errorf("--%s %s: must be positive", contract.FlagDeadline, o.Deadline)
	}
	if o.Jitter < 0 || o.Jitter >= 1 {
		return fmt.Errorf("--%s %g: must be at least 0 and less than 1", contract.FlagJitter, o.Jitter)
	}
	if o.Params == nil {
		p, err := contract.DecodeSpec(getenv(contract.EnvSPC))
		if err != nil {
			return err
		}
		o.Params = p
	}
	if o.ClassName == "" {
		o.ClassName = getenv(contract.EnvSPCName)
	}
	return nil
}
