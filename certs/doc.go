// Package certs provides the admission webhook's serving certificate: from
// files in a directory (cert-manager or any issuer; reloaded when they
// change), or self-managed.
//
// Self-managed mode keeps one Secret in the webhook's namespace holding a CA,
// an optional staged next CA, the CA bundle and the serving certificate for
// the webhook Service's DNS names. Every replica runs the same loop:
//
//  1. read the Secret, or create it when absent (its bundle keeps the CAs
//     the webhook configuration trusts now, so deleting the Secret does not
//     break replicas still serving the old certificate); on AlreadyExists
//     another replica won the race, so re-read and use what it stored;
//  2. renew what is due (Rotate, a pure function of the State and the time):
//     the serving certificate at 2/3 of its lifetime; the next CA is staged
//     into the bundle at 1/2 of the CA's lifetime and starts signing at 2/3,
//     and the previous CA stays in the bundle until it expires, so the API
//     server trusts both sides of a rollover; updates use the Secret's
//     resourceVersion, and a Conflict means re-read and start over;
//  3. serve the serving certificate from memory (GetCertificate), so a
//     renewal is picked up without a restart;
//  4. patch the CA bundle into every webhook of the named
//     MutatingWebhookConfiguration where it differs; a watch on that one
//     object re-runs the loop at once when someone resets it.
//
// Only standard library crypto is used (ECDSA P-256 keys).
//
// RBAC the self-managed mode needs (the chart renders exactly this):
//
//	# Role in the webhook's namespace
//	rules:
//	- apiGroups: [""]
//	  resources: ["secrets"]
//	  resourceNames: ["<cert-secret-name>"]
//	  verbs: ["get", "update"]
//	- apiGroups: [""]
//	  resources: ["secrets"]
//	  verbs: ["create"]                        # create cannot be limited by name
//	# ClusterRole
//	rules:
//	- apiGroups: ["admissionregistration.k8s.io"]
//	  resources: ["mutatingwebhookconfigurations"]
//	  resourceNames: ["<webhook-config-name>"]
//	  verbs: ["get", "watch", "patch"]
//
// (The watch is by name, a metadata.name field selector, which RBAC matches
// against resourceNames.)
package certs
