package awsfetch

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// SecretsManagerAPI lists the Secrets Manager calls this package makes.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	BatchGetSecretValue(ctx context.Context, in *secretsmanager.BatchGetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error)
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

// sdkClients builds real SDK clients from a base config.
type sdkClients struct {
	base    aws.Config
	retryer func() aws.Retryer
}

func (c *sdkClients) SecretsManager(region string, creds aws.CredentialsProvider) SecretsManagerAPI {
	return secretsmanager.NewFromConfig(c.base, func(o *secretsmanager.Options) {
		o.Region = region
		if creds != nil {
			o.Credentials = creds
		}
		o.Retryer = c.retryer()
	})
}

func (c *sdkClients) SSM(region string, creds aws.CredentialsProvider) SSMAPI {
	return ssm.NewFromConfig(c.base, func(o *ssm.Options) {
		o.Region = region
		if creds != nil {
			o.Credentials = creds
		}
		o.Retryer = c.retryer()
	})
}
