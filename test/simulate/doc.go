// Package simulate runs the real fetch and cache code (secrets/awsfetch, one
// Fetcher per node, as the mounter runs it) for a whole fleet on a virtual
// clock, against an in-memory AWS that enforces the account's per-API
// quotas, and reports what AWS would see: calls per second per API, throttled
// calls, and how long a rotated secret takes to reach every pod's files
// (staleness). `make simulate` prints the table, beside ASCP-style polling
// (one GetSecretValue per object per pod per poll, no node cache).
//
// What is real: the Fetcher (its batching, cache, single flight, maxAge
// bound, version check and batch-throttle memory). What is modelled: the
// kubelet's republish (the mounter refreshes a volume at the first pod sync
// after its interval has passed; a failed refresh is retried at the next
// sync), the SDK's standard retryer (jittered exponential backoff on a
// throttled call, each attempt counted), and AWS (per-second quotas per API,
// the account's, shared by every node; a call is instantaneous on the virtual
// clock). Credentials are not modelled (no STS calls).
//
// The model (Config, defaults as issue #14 states it): 5,000 nodes, 30 pods
// a node, 10 Secrets Manager secrets a pod, 5 identities (apps) a node, each
// app's pods sharing its secrets; a 2-minute refresh interval; 10% of the
// secrets rotate every interval (at random times). Pods start spread over the
// first minutes; figures are taken after that warm-up. With fewer nodes the
// quotas shrink in proportion, so per-node figures stay comparable.
package simulate
