// Package faults is the fault battery of the mounter, a test tier of its own
// (`make test-faults`, build tag faults; root: real tmpfs mounts). Each test
// runs the real binary (`aws-secrets-injector mounter`, built by
// test/testbin) as a separate process serving a real CSI socket, with a real
// kube-apiserver (test/envtest) behind a loopback TCP proxy that can be taken
// down, and the fake AWS (test/fakeaws) with its fault injection. The tests
// play the kubelet: they publish and republish over the CSI socket (the
// kubelet's own republish comes once a minute, too slow for a battery) and
// read the files through the target paths as a pod does.
//
// The faults: SIGKILL of the mounter in the middle of rotations, an AWS
// outage of several refresh intervals, a tmpfs that fills up on rotation, the
// API server down during a first publish (of a class the node has not read:
// it fails, retryably) and during a refresh (whose class and ServiceAccount
// come from the node's watches: it succeeds), and a restart with many live
// volumes. Counts and rounds default to a run of a few minutes
// on two cores and can be raised with FAULTS_* environment variables (see
// each test). Every test logs its figures (`go test -v`).
package faults
