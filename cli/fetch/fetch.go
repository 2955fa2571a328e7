// Package fetch is the `aws-secrets-injector fetch` command: read a
// SecretProviderClass manifest, fetch its objects with the default AWS
// credential chain, and write the files exactly as a pod would see them (or
// list their names, sizes and modes, never the values).
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/seed-ddac166a/aws-secrets-injector/cli"
	"github.com/seed-ddac166a/aws-secrets-injector/cli/manifest"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Exit codes of Run's errors (see ExitError).
const (
	// ExitFailed: the fetch, extraction or write failed.
	ExitFailed = 1
	// ExitInvalid: bad flags or an invalid SecretProviderClass.
	ExitInvalid = 2
)

// EndpointDefaultRegion is the region used when none is configured but a custom
// endpoint (AWS_ENDPOINT_URL) is: without an endpoint the command fails instead.
const EndpointDefaultRegion = "us-east-1"

// DefaultTimeout bounds the whole command.
const DefaultTimeout = 30 * time.Second

// Options are the flags of the fetch command.
type Options struct {
	// SPCFile is the SecretProviderClass manifest (YAML or JSON; "-" for stdin).
	// It may hold several documents; the SecretProviderClass among them is used.
	SPCFile string
	// Name picks the SecretProviderClass by metadata.name when the file holds several.
	Name string
	// OutDir receives the files through the atomic writer (created if missing).
	OutDir string
	// List prints name, size and mode of each file instead of writing (the default without OutDir).
	List bool
	// Region overrides parameters.region of the class (and the SDK's default region).
	Region string
	// Timeout bounds loading credentials, fetching and writing.
	Timeout time.Duration

	// Out receives the listing (default os.Stdout); not a flag.
	Out io.Writer
	// ConfigOptions are extra SDK config options (tests); not a flag.
	ConfigOptions []func(*config.LoadOptions) error
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.SPCFile, "spc", "", "SecretProviderClass manifest to read (YAML or JSON, may hold several documents; - for stdin)")
	fs.StringVar(&o.Name, "name", "", "metadata.name of the SecretProviderClass, when the file holds several")
	fs.StringVarP(&o.OutDir, "out", "o", "", "directory to write the files into, as a pod would see them (created if missing)")
	fs.BoolVar(&o.List, "list", false, "list file names, sizes and modes without values (the default when --out is not set)")
	fs.StringVar(&o.Region, "region", "", "AWS region; overrides parameters.region of the class")
	fs.DurationVar(&o.Timeout, "timeout", DefaultTimeout, "time limit for the whole fetch, retries included")
}

// Validate checks the flags.
func (o *Options) Validate() error {
	switch {
	case o.SPCFile == "":
		return &ExitError{Code: ExitInvalid, Err: errors.New("--spc is required: the SecretProviderClass manifest to fetch")}
	case o.OutDir != "" && o.List:
		return &ExitError{Code: ExitInvalid, Err: errors.New("--out and --list exclude each other")}
	case o.Timeout <= 0:
		return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("--timeout must be positive, got %s", o.Timeout)}
	}
	return nil
}

// ExitError is the operator tools' one exit-error type (package cli).
type ExitError = cli.ExitError

// Run executes the command: decode and validate the class, load the AWS
// config, fetch, extract, then write into OutDir or print the listing.
// Nothing is written unless every object was fetched and extracted.
func Run(ctx context.Context, o *Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := logr.FromContextOrDiscard(ctx)
	out := o.Out
	if out == nil {
		out = os.Stdout
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	doc, err := readClass(o.SPCFile, o.Name)
	if err != nil {
		return &ExitError{Code: ExitInvalid, Err: err}
	}
	class, err := spc.DecodeClass(doc)
	if err != nil {
		return &ExitError{Code: ExitInvalid, Err: err}
	}

	cfgOpts := append([]func(*config.LoadOptions) error{}, o.ConfigOptions...)
	if o.Region != "" {
		cfgOpts = append(cfgOpts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, cfgOpts...)
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("load AWS configuration: %w", err)}
	}

	params := class.Parameters
	if o.Region != "" {
		params[spc.ParamRegion] = o.Region
	}
	if cfg.Region == "" && params[spc.ParamRegion] == "" && cfg.BaseEndpoint != nil {
		// A custom endpoint (AWS_ENDPOINT_URL, e.g. a local fake or a proxy) does not
		// route by region; the region only scopes the signature. Use the SDK's
		// classic default rather than failing, and say so.
		cfg.Region = EndpointDefaultRegion
		log.Info("no AWS region configured; AWS_ENDPOINT_URL is set, so requests are signed for "+EndpointDefaultRegion,
			"fix", "set AWS_REGION, --region or parameters.region to choose")
	}
	p := pipeline.New(identity.NewResolver(cfg, identity.Options{}), awsfetch.New(cfg, awsfetch.Options{}))
	req := pipeline.Request{Class: classRef(class), Params: params, Parse: spc.Options{DefaultRegion: cfg.Region}}
	res, err := p.Load(ctx, req)
	var pe *pipeline.Error
	if errors.As(err, &pe) && pe.Stage == pipeline.StageParse {
		return &ExitError{Code: ExitInvalid, Err: err}
	}
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	// Nothing is created unless every object was fetched and extracted.
	if o.OutDir != "" {
		if err := os.MkdirAll(o.OutDir, 0o750); err != nil {
			return &ExitError{Code: ExitFailed, Err: fmt.Errorf("create output directory: %w", err)}
		}
		changed, err := pipeline.Write(req.Class, o.OutDir, res.Files, atomicdir.Options{})
		if err != nil {
			return &ExitError{Code: ExitFailed, Err: err}
		}
		state := "unchanged"
		if changed {
			state = "written"
		}
		if _, err := fmt.Fprintf(out, "%d files %s in %s\n", len(res.Files), state, o.OutDir); err != nil {
			return err
		}
	}
	for _, w := range res.Warnings {
		log.Info("SecretProviderClass warning", "class", class.Name, "field", w.Field, "problem", w.Problem, "fix", w.Fix)
	}
	log.V(1).Info("fetched", "class", class.Name, "objects", len(res.Spec.Objects), "files", len(res.Files), "region", res.Spec.Region)
	return printList(out, res.Files)
}

// classRef names a class in messages: namespace/name, or its name alone.
func classRef(c *spc.Class) string {
	if c.Namespace == "" {
		return c.Name
	}
	return c.Namespace + "/" + c.Name
}

func printList(w io.Writer, files []secrets.File) error {
	sorted := append([]secrets.File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "NAME\tSIZE\tMODE") // errors surface at Flush
	for _, f := range sorted {
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%04o\n", listName(f.Path), f.Content.Len(), f.Mode.Perm())
	}
	return tw.Flush()
}

// listName is a file name as the listing prints it: as is when every rune is
// printable, else quoted (secrets.Quote), so a name can never forge a line
// or a column of the listing.
func listName(p string) string {
	for _, r := range p {
		if !unicode.IsPrint(r) || r == '\t' {
			return secrets.Quote(p)
		}
	}
	return p
}

// readClass returns the SecretProviderClass document of a (multi-document)
// file, read with the operator tools' one bounded manifest reader.
func readClass(path, name string) ([]byte, error) {
	var in manifest.Input
	if path == "-" {
		data, err := manifest.ReadLimited(os.Stdin)
		in = manifest.Input{Name: manifest.StdinName, Data: data, Err: err}
	} else {
		in = manifest.ReadFile(path)
	}
	if in.Err != nil {
		return nil, fmt.Errorf("read SecretProviderClass %s: %w", in.Name, in.Err)
	}
	var found, all [][]byte
	var names []string
	for _, d := range manifest.Split(in.Data) {
		all = append(all, d.Data)
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(d.Data, &meta); err != nil {
			continue // not our document; DecodeClass reports errors of the chosen one
		}
		if !spc.IsSecretProviderClass(meta.APIVersion, meta.Kind) || (name != "" && meta.Metadata.Name != name) {
			continue
		}
		found = append(found, d.Data)
		names = append(names, secrets.Quote(meta.Metadata.Name))
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return nil, fmt.Errorf("%s holds %d SecretProviderClasses (%s): pick one with --name", in.Name, len(found), strings.Join(names, ", "))
	case name != "":
		return nil, fmt.Errorf("%s holds no SecretProviderClass named %s", in.Name, secrets.Quote(name))
	case len(all) == 1:
		return all[0], nil // DecodeClass says precisely what is wrong with it
	}
	return nil, fmt.Errorf("%s holds no SecretProviderClass (apiVersion secrets-store.csi.x-k8s.io/v1, kind SecretProviderClass)", in.Name)
}
