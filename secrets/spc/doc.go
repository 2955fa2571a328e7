// Package spc parses and validates the parameters of a SecretProviderClass
// (secrets-store.csi.x-k8s.io/v1, provider "aws"): the whole surface the AWS
// provider of the Secrets Store CSI driver accepts, plus this project's
// additions (allKeys, allowNonString, refreshInterval).
//
// Every check runs here, once, for the mounter, the webhook, the injector and
// the validate command alike. Validation collects every problem rather than
// stopping at the first; each Issue names the object (index and name), the
// field, the problem and the fix. JMESPath expressions are compiled here,
// before any AWS call.
package spc
