package awsfetch

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go/middleware"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/internal/awsguard"
)

// SecretsManagerAPI lists the Secrets Manager calls this package makes.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	BatchGetSecretValue(ctx context.Context, in *secretsmanager.BatchGetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error)
	// DescribeSecret is used only with Options.Revalidate.
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// SSMAPI lists the SSM Parameter Store calls this package makes.
type SSMAPI interface {
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
}

// Clients makes the AWS clients for one region and credentials provider. Tests
// replace it to run against in-memory fakes; the default uses the SDK.
type Clients interface {
	SecretsManager(region string, creds aws.CredentialsProvider) SecretsManagerAPI
	SSM(region string, creds aws.CredentialsProvider) SSMAPI
}

// sdkClients builds real SDK clients from a base config, each call guarded
// (awsguard): response bodies capped at secrets.MaxResponseBytes, a 2xx answer
// must be awsJson with a body and a complete output, each attempt timed.
type sdkClients struct {
	base           aws.Config
	retryer        func() aws.Retryer
	attemptTimeout time.Duration
}

// jsonContentTypes are the media types Secrets Manager and SSM answer with.
var jsonContentTypes = []string{"application/x-amz-json-1.1", "application/json"}

func (c *sdkClients) guard() awsguard.Options {
	return awsguard.Options{MaxBody: secrets.MaxResponseBytes, AttemptTimeout: c.attemptTimeout,
		ContentTypes: jsonContentTypes, RequireBody: true}
}

func (c *sdkClients) SecretsManager(region string, creds aws.CredentialsProvider) SecretsManagerAPI {
	return secretsmanager.NewFromConfig(c.base, func(o *secretsmanager.Options) {
		o.Region = region
		if creds != nil {
			o.Credentials = creds
		}
		o.Retryer = c.retryer()
		o.APIOptions = append(c.guard().Append(o.APIOptions), checkOutput)
	})
}

func (c *sdkClients) SSM(region string, creds aws.CredentialsProvider) SSMAPI {
	return ssm.NewFromConfig(c.base, func(o *ssm.Options) {
		o.Region = region
		if creds != nil {
			o.Credentials = creds
		}
		o.Retryer = c.retryer()
		o.APIOptions = append(c.guard().Append(o.APIOptions), checkOutput)
	})
}

// checkOutput adds the output check: first in the deserialize step, so it sees
// the decoded output, inside the retry loop, so an incomplete answer is retried.
func checkOutput(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("awsfetch.CheckOutput", func(
		ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler,
	) (middleware.DeserializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleDeserialize(ctx, in)
		if err == nil {
			if problem := incomplete(out.Result); problem != "" {
				err = &awsguard.MalformedError{Problem: problem}
			}
		}
		return out, md, err
	}), middleware.Before)
}

// incomplete says what a decoded 2xx output lacks that every real answer has
// ("" when nothing): a value, or, for the batch APIs, any entry at all.
func incomplete(result any) string {
	switch o := result.(type) {
	case *secretsmanager.GetSecretValueOutput:
		if o.SecretString == nil && o.SecretBinary == nil {
			return "GetSecretValue answered without SecretString or SecretBinary"
		}
	case *secretsmanager.BatchGetSecretValueOutput:
		if len(o.SecretValues) == 0 && len(o.Errors) == 0 && o.NextToken == nil {
			return "BatchGetSecretValue answered without values, errors or a next page"
		}
		for i := range o.SecretValues {
			if e := &o.SecretValues[i]; e.SecretString == nil && e.SecretBinary == nil {
				return "BatchGetSecretValue answered an entry without SecretString or SecretBinary"
			}
		}
	case *ssm.GetParametersOutput:
		if len(o.Parameters) == 0 && len(o.InvalidParameters) == 0 {
			return "GetParameters answered without parameters or invalid parameters"
		}
		for i := range o.Parameters {
			if o.Parameters[i].Value == nil {
				return "GetParameters answered a parameter without a value"
			}
		}
	}
	return ""
}
