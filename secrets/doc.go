// Package secrets is the shared core of aws-secrets-injector: everything
// between a SecretProviderClass and the files a pod reads, which every
// delivery path (mounter, injector, provider, exec, fetch) runs through the
// one pipeline of package pipeline:
//
//	parameters → spc (parse, validate) → identity (IRSA, Pod Identity, node
//	role, the process's own chain, assumeRole) → awsfetch (batched, cached
//	per identity) → extract (budgeted JMESPath, allKeys) → atomicdir (the
//	..data symlink swap)
//
// This package holds what crosses those stages and is owned by none of them:
// Value (secret bytes that never print), File and Fetched, ValidatePath (the
// one rule for file names, shared by the parser and the writer), Quote (how
// every user-supplied name is printed), Problem (the one Field/Problem/Fix
// shape of everything a user must fix) and the bounds on tenant input
// (limits.go). Package reason holds the one vocabulary of failure reasons.
package secrets
