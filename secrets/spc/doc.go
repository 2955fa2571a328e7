// Package spc parses and validates SecretProviderClasses
// (secrets-store.csi.x-k8s.io/v1, provider "aws"): the whole surface the AWS
// provider of the Secrets Store CSI driver (ASCP) accepts, plus this
// project's additions (allKeys, allowNonString, refreshInterval,
// assumeRoleArn, assumeRoleExternalId, assumeRoleDurationSeconds).
//
// Every check runs here, once, for the mounter, the webhook, the injector and
// the validate command alike. Validation collects every problem rather than
// stopping at the first; each secrets.Problem names the object (index and
// name), the field, the problem and the fix, and, when the verdict is
// stricter than ASCP's, why (Problem.Why). JMESPath expressions are compiled
// here, before any AWS call. Every name taken from the class reaches a
// message through secrets.Quote; every bound of secrets/limits.go that
// applies to a class is checked here, the size of the parameters before
// anything is decoded.
//
// # Files
//
//   - manifest.go: Class, ClassFromObject (the one decoder of a class object,
//     as unstructured or yaml.Unmarshal hold it) and DecodeClass (YAML → that).
//   - parse.go: Options, Result, Parse and Check; the class-level parameters.
//   - assumerole.go: the assumeRole* parameters (AssumeRole).
//   - objects.go: the objects list: its entries, their jmesPath lists and
//     failoverObjects, keys matched case-insensitively; ARNs and types.
//   - files.go: file names: path translation, secrets.PathProblem for every
//     planned name, collisions, a file where another needs a directory.
//   - limits.go: the bounds (class size, objects, files, objectName,
//     expression), each a problem with reason.LimitExceeded.
//   - secretobjects.go: spec.secretObjects: decoding and CheckSecretObjects.
//   - warnings.go: JMESPath expressions that can never yield a string.
//   - suggest.go: "did you mean" suggestions (edit distance).
//   - yamlerr.go: decoder errors and values shaped for messages (bounded,
//     one line), KindOf, fieldKey.
//   - problems.go: InvalidError and the collector of problems.
//   - spec.go: Spec, Object, Plan: the validated result.
//
// # Parity with ASCP
//
// ASCP decodes each objects entry with encoding/json: keys match in any case
// (its own integration classes write Path: and ObjectAlias:) and unknown keys
// are ignored (its failover tests carry backupArn and inFallback). So do we:
// keys of objects, jmesPath and failoverObject entries match in any case, and
// an unknown key is a warning with a "did you mean" fix. A key set twice in
// two cases (path and Path) is an error naming both: which one ASCP uses
// depends on their order. Options.Strict (and validate --strict, which fails
// on any warning) refuses the lenient verdicts:
//
//   - an unknown key;
//   - an SSM objectVersion that is not a positive number (ASCP sends it as
//     NAME:VERSION, which SSM reads as a label);
//   - an ARN objectName without failoverObject when failoverRegion is set
//     (ASCP reads the same ARN in the failover region, which cannot succeed).
//
// What ASCP accepts and we refuse, each with its Why:
//
//   - a file name with an element starting with ".." ("..x", "a/..data"):
//     the atomic writer's own names (..data, the timestamped directories);
//     ".." alone: it would write outside the mount (ASCP's check catches
//     "../" only with a slash);
//   - "a//b", "./a", "a/./b": the same file as "a/b", so two objects could
//     write one file unnoticed;
//   - two objects writing one file that ASCP does not see as duplicates (one
//     name with two version labels and no alias; names that translate alike,
//     "a/b" and "a_b"): one value would silently replace the other;
//   - a file where another name needs a directory ("a" beside "a/b"), a name
//     element over 255 bytes, a path over 4096 bytes, a NUL byte: the mount
//     fails when the files are written; we fail before any AWS call;
//   - a file name that is not valid UTF-8;
//   - filePermission with setuid, setgid or sticky bits ("4755"): a setuid
//     file whose content the secret's writer controls;
//   - objectTemplate (ASCP's decoder ignores it): the pod would get the raw
//     value where it expects a rendered template.
//
// Kept from before, refused by both or outside ASCP's own test inputs: a bad
// JMESPath expression (ASCP fails at fetch, we before it), ARN/type and
// ARN/region mismatches (ASCP refuses them too), region codes (ASCP accepts
// any string, its tests use "fakeRegion"), pathTranslation "/" or ".", an
// objectName with surrounding spaces or control characters, and the bounds.
// Where ASCP refuses and we accept: a failoverObject with a plain name under
// an ARN objectName without objectType (the type comes from the ARN), the
// same objectName twice writing different files, a nested file name when the
// driver (not ASCP) writes the files, and numbers for string keys
// (objectVersion: 3). parity_test.go checks every kind of input of ASCP's
// provider/secret_descriptor_test.go, server/server_test.go and
// tests/BasicTestMountSPC*.yaml against these verdicts.
//
// # secretObjects
//
// CheckSecretObjects checks spec.secretObjects against the parsed class: each
// data objectName must be a file the class produces. The fixed names are the
// objects' file names and the jmesPath objectAliases; an allKeys object's
// files are named by the keys of the fetched value, unknown until then, so a
// class with an allKeys object accepts any objectName that is a valid file
// name (it is checked when the Secret is synced).
package spc
