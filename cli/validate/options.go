package validate

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// Output formats.
const (
	OutputText = "text"
	OutputJSON = "json"
)

// Options configure a validate run.
type Options struct {
	// Paths are the inputs: files, directories (searched recursively for *.yaml, *.yml
	// and *.json) and "-" for standard input. Set from the command's arguments.
	Paths []string
	// Output is OutputText (for people) or OutputJSON (one record per SecretProviderClass, for tools).
	Output string
	// Strict makes warnings fail the run (exit 1) like errors.
	Strict bool
	// Region is the default region assumed for classes without parameters.region; when
	// empty, AWS_REGION and then AWS_DEFAULT_REGION are used. With none of them, a class
	// without a region draws a warning.
	Region string
	// Verbose reports, on stderr, every document skipped and why.
	Verbose bool

	// Stdin is read for the path "-"; nil means os.Stdin.
	Stdin io.Reader
	// Getenv looks up environment variables; nil means os.Getenv. Tests set it.
	Getenv func(string) string
}

// AddFlags registers the command-line flags of validate.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.Output, "output", "o", OutputText, `output format: "text" or "json"`)
	fs.BoolVar(&o.Strict, "strict", false, "fail (exit 1) on warnings too")
	fs.StringVar(&o.Region, "region", "", "region assumed for classes without parameters.region (default $AWS_REGION, then $AWS_DEFAULT_REGION)")
	fs.BoolVar(&o.Verbose, "verbose", false, "report every skipped document and why, on stderr")
}

// Validate checks the options.
func (o *Options) Validate() error {
	var errs []error
	if len(o.Paths) == 0 {
		errs = append(errs, errors.New(`no input: give files, directories or "-" for stdin`))
	}
	for _, p := range o.Paths {
		if p == "" {
			errs = append(errs, errors.New("empty path argument"))
		}
	}
	if o.Output == "" {
		o.Output = OutputText
	}
	if o.Output != OutputText && o.Output != OutputJSON {
		errs = append(errs, fmt.Errorf("--output %q: must be text or json", o.Output))
	}
	return errors.Join(errs...)
}
