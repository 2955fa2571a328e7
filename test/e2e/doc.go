// Package e2e is the end-to-end suite: the Helm chart installed on a real
// single-node cluster (test/e2e/cluster: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet and containerd in a network
// namespace), the fake AWS (test/fakeaws) running in that namespace on the
// node IP and trusting the cluster's service-account issuer, and pods that
// really run, checked the way a user would check them with kubectl.
//
// Run it as root on Linux with `make e2e` (it builds the tools and the image
// first). Without root it is skipped, except under CI=true, where it fails.
package e2e
