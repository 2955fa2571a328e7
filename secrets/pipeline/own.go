package pipeline

import (
	"context"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/region"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// StageConfig is loading the process's AWS configuration (NewOwn).
const StageConfig Stage = "load AWS configuration"

// OwnOptions configure NewOwn.
type OwnOptions struct {
	// Class is "namespace/name" of the SecretProviderClass, for messages.
	Class string
	// Params are the class's spec.parameters.
	Params map[string]string
	// LoadConfig loads the AWS configuration (the SDK's default chain when nil).
	LoadConfig func(ctx context.Context) (aws.Config, error)
	// Fetch tunes the fetcher.
	Fetch awsfetch.Options
}

// Own is a pipeline acting as the process itself (its container's default
// credential chain: IRSA, EKS Pod Identity, the instance profile) with the
// request for one class: what every in-pod delivery path runs (the injector
// in init mode, the exec wrapper's fetch source).
type Own struct {
	// Pipeline runs the stages.
	*Pipeline
	// Request is the delivery, its class parsed.
	Request Request
}

// NewOwn loads the AWS configuration, parses the class and resolves its
// region: the class's, else AWS_REGION (the EKS webhooks set it; the SDK
// read it into the configuration), else the instance metadata service (EC2
// nodes; asked only when needed: Fargate has none and IMDSv2's hop limit
// often keeps pods from it; never when AWS_EC2_METADATA_DISABLED=true).
// Nothing here uses the network but that last question. A failure is an
// *Error of stage StageConfig or StageParse.
func NewOwn(ctx context.Context, o OwnOptions) (*Own, error) {
	load := o.LoadConfig
	if load == nil {
		load = func(ctx context.Context) (aws.Config, error) { return config.LoadDefaultConfig(ctx) }
	}
	cfg, err := load(ctx)
	if err != nil {
		return nil, &Error{Class: o.Class, Stage: StageConfig, Kind: reason.Internal, Err: err,
			Fix: "check the AWS_* environment variables and the shared config files of this container"}
	}
	s, err := spc.Parse(o.Params, spc.Options{DefaultRegion: cfg.Region})
	var looked []string
	if err == nil && s.Region == "" {
		found := region.Resolve(ctx, region.Fixed("AWS_REGION", cfg.Region), imdsSource(cfg))
		looked = found.Looked
		if found.Region != "" {
			cfg.Region = found.Region
			s, err = spc.Parse(o.Params, spc.Options{DefaultRegion: cfg.Region})
		} else {
			err = region.NoRegion(looked)
		}
	}
	if err != nil {
		return nil, &Error{Class: o.Class, Stage: StageParse, Kind: reason.InvalidClass, Err: err}
	}
	return &Own{
		Pipeline: New(identity.NewResolver(cfg, identity.Options{}), awsfetch.New(cfg, o.Fetch)),
		Request:  Request{Class: o.Class, Spec: s, RegionLooked: looked},
	}, nil
}

// imdsSource is the instance metadata service as a region source, unless the
// container disabled it (AWS_EC2_METADATA_DISABLED=true).
func imdsSource(cfg aws.Config) region.Source {
	if strings.EqualFold(os.Getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		return region.IMDS(nil)
	}
	return region.IMDS(imds.NewFromConfig(cfg))
}
