// Package secrets is the shared core of aws-secrets-injector: the pipeline
// every delivery mode (mounter, injector, fetch) runs to turn a
// SecretProviderClass into files.
//
//	SecretProviderClass parameters → spc.Parse (validated object list)
//	→ awsfetch (batched, deduplicated, cached fetch with the caller's identity)
//	→ extract (JMESPath, allKeys) → []File
//	→ atomicdir.Write (the ..data symlink swap)
//
// This package holds the types that cross those stages: Value, the secret
// bytes that never print, and File, one file of a set.
package secrets
