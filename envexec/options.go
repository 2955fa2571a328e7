package envexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/pflag"

	"github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
	injcontract "github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
)

// Options configure Run. Values not given as flags come from the exec
// contract's environment variables (package contract) when Validate runs.
type Options struct {
	// EnvFrom is the directory holding the file set (the CSI mount or the
	// init-mode emptyDir), read through its current generation.
	EnvFrom string
	// SPCFile is a SecretProviderClass manifest to fetch with the process's
	// own identity instead of reading a directory.
	SPCFile string
	// Env are explicit mapping entries "file=NAME" (NAME "-" leaves the file out).
	Env []string
	// OnChange is "none", "restart" or "signal:NAME".
	OnChange string
	// GracePeriod is how long a restart waits after SIGTERM before SIGKILL.
	GracePeriod time.Duration
	// RefreshInterval is the fetch source's interval with "restart" (0: the
	// class's refreshInterval, else contract.DefaultRefreshInterval).
	RefreshInterval time.Duration
	// Install, when set, copies the binary into this directory and exits (the
	// webhook's copy init container).
	Install string
	// Argv is the app's command and arguments.
	Argv []string

	// Params are the SecretProviderClass parameters of the fetch source
	// (from SPCFile or AWS_SECRETS_INJECTOR_SPC).
	Params map[string]string
	// ClassName is "namespace/name" of the class, for messages.
	ClassName string

	// mapping is the parsed explicit mapping.
	mapping map[string]string
	// onChange is the parsed on-change action.
	onChange contract.OnChange

	flags *pflag.FlagSet
	// getenv reads the contract (os.Getenv when nil).
	getenv func(string) string
	// loadConfig loads the AWS configuration of the fetch source (the SDK
	// default chain when nil).
	loadConfig func(ctx context.Context) (aws.Config, error)
	// debounce and poll tune the watcher (defaults when zero).
	debounce, poll time.Duration
}

// AddFlags registers the exec flags. Unset flags take the contract's
// environment values.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.flags = fs
	fs.StringVar(&o.EnvFrom, contract.FlagEnvFrom, "", "directory holding the file set (the secrets mount path) (default $"+contract.EnvEnvFrom+")")
	fs.StringVar(&o.SPCFile, contract.FlagSPC, "", "SecretProviderClass manifest to fetch with this process's AWS identity instead of reading a directory (default: the parameters in $"+injcontract.EnvSPC+")")
	fs.StringArrayVar(&o.Env, contract.FlagEnv, nil, "map a file to a variable, FILE=NAME (FILE=- leaves it out); repeat for more (default $"+contract.EnvEnv+", comma-separated)")
	fs.StringVar(&o.OnChange, contract.FlagOnChange, "", `on a change of the set: "none" (exec the app), "restart" or "signal:NAME" (e.g. signal:SIGHUP) (default $`+contract.EnvOnChange+` or none)`)
	fs.DurationVar(&o.GracePeriod, contract.FlagGracePeriod, contract.DefaultGracePeriod, "restart: time between SIGTERM and SIGKILL (default $"+contract.EnvGracePeriod+" or 10s)")
	fs.DurationVar(&o.RefreshInterval, contract.FlagRefreshInterval, 0, "with --spc and restart: time between fetches (default $"+contract.EnvRefreshInterval+", the class's refreshInterval, or 2m)")
	fs.StringVar(&o.Install, contract.FlagInstall, "", "copy this binary into the directory and exit (the copy init container)")
}

func (o *Options) changed(name string) bool { return o.flags != nil && o.flags.Changed(name) }

// field names where a value came from: the flag when given, else the variable.
func (o *Options) field(flag, env string) string {
	if o.changed(flag) {
		return "--" + flag
	}
	return env
}

// Validate fills what the flags left unset from the environment contract and
// checks every value. Errors name the flag or the variable.
func (o *Options) Validate() error {
	getenv := o.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if o.Install != "" {
		if len(o.Argv) > 0 {
			return errors.New("--install copies the binary and exits: give no command")
		}
		return nil
	}
	if len(o.Argv) == 0 {
		return errors.New("no command: give the app's command after --, e.g. exec --env-from /mnt/secrets-store -- /app/server")
	}
	if err := o.source(getenv); err != nil {
		return err
	}
	var err error
	if len(o.Env) > 0 {
		o.mapping, err = contract.ParseMapping("--"+contract.FlagEnv, o.Env)
	} else {
		o.mapping, err = contract.ParseEnvMap(contract.EnvEnv, getenv(contract.EnvEnv))
	}
	if err != nil {
		return err
	}
	onChange := o.OnChange
	if !o.changed(contract.FlagOnChange) && onChange == "" {
		onChange = getenv(contract.EnvOnChange)
	}
	if o.onChange, err = contract.ParseOnChange(o.field(contract.FlagOnChange, contract.EnvOnChange), onChange); err != nil {
		return err
	}
	if o.onChange.Action == contract.ActionSignal && o.EnvFrom == "" {
		return fmt.Errorf("%s %s: a signal asks the app to re-read its files, and the fetch source writes none; fix: use restart, or --%s with the secrets directory",
			o.field(contract.FlagOnChange, contract.EnvOnChange), o.onChange, contract.FlagEnvFrom)
	}
	if o.changed(contract.FlagGracePeriod) {
		if o.GracePeriod, err = contract.ParseGracePeriod("--"+contract.FlagGracePeriod, o.GracePeriod.String()); err != nil {
			return err
		}
	} else if o.GracePeriod, err = contract.ParseGracePeriod(contract.EnvGracePeriod, getenv(contract.EnvGracePeriod)); err != nil {
		return err
	}
	if o.changed(contract.FlagRefreshInterval) {
		o.RefreshInterval, err = contract.ParseRefreshInterval("--"+contract.FlagRefreshInterval, o.RefreshInterval.String())
	} else if o.RefreshInterval == 0 {
		o.RefreshInterval, err = contract.ParseRefreshInterval(contract.EnvRefreshInterval, getenv(contract.EnvRefreshInterval))
	}
	return err
}

// source decides where the set comes from: --env-from or --spc (exclusive),
// else the variables (exclusive too).
func (o *Options) source(getenv func(string) string) error {
	switch {
	case o.EnvFrom != "" && o.SPCFile != "":
		return fmt.Errorf("--%s and --%s exclude each other: read a directory or fetch a class", contract.FlagEnvFrom, contract.FlagSPC)
	case o.EnvFrom == "" && o.SPCFile == "":
		dir, params := getenv(contract.EnvEnvFrom), getenv(injcontract.EnvSPC)
		switch {
		case dir != "" && params != "":
			return fmt.Errorf("%s and %s are both set: the wrapper reads a directory or fetches a class; fix: unset one", contract.EnvEnvFrom, injcontract.EnvSPC)
		case dir != "":
			o.EnvFrom = dir
		case params != "":
			p, err := injcontract.DecodeSpec(params)
			if err != nil {
				return err
			}
			o.Params, o.ClassName = p, getenv(injcontract.EnvSPCName)
			return nil
		default:
			return fmt.Errorf("no file set: give --%s DIR (the secrets mount path) or --%s FILE, or set %s", contract.FlagEnvFrom, contract.FlagSPC, contract.EnvEnvFrom)
		}
	case o.SPCFile != "":
		name, params, err := readClassFile(o.SPCFile)
		if err != nil {
			return err
		}
		o.Params, o.ClassName = params, name
		return nil
	}
	abs, err := filepath.Abs(o.EnvFrom)
	if err != nil {
		return fmt.Errorf("--%s %s: %w", contract.FlagEnvFrom, o.EnvFrom, err)
	}
	o.EnvFrom = abs
	return nil
}
