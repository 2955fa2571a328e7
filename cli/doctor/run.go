package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/seed-ddac166a/aws-secrets-injector/cli"
	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
)

// DefaultMounterSelector selects the chart's mounter pods.
const DefaultMounterSelector = "app.kubernetes.io/name=aws-secrets-injector,app.kubernetes.io/component=mounter"

// maxStatusBytes bounds the mounter's answer.
const maxStatusBytes = 1 << 20

// ProxyStatus asks the mounter pod on the pod's node for
// /status/pods/{uid} through the API server's pods/proxy, on the mounter
// container's port named "http". Only a pod that the chart's mounter
// DaemonSet controls is asked (FindMounter: one namespace, found by selector
// or named by namespace), never a look-alike someone labelled in another
// namespace. The caller needs list on daemonsets and pods and get on
// pods/proxy of the mounter's namespace.
func ProxyStatus(kube kubernetes.Interface, selector, namespace string) StatusSource {
	return func(ctx context.Context, pod *corev1.Pod) (*mounter.PodStatus, error) {
		ds, err := FindMounter(ctx, kube, selector, namespace)
		if err != nil {
			return nil, err
		}
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("mounter DaemonSet %s/%s: its selector: %w", ds.Namespace, ds.Name, err)
		}
		list, err := kube.CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String(),
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", pod.Spec.NodeName).String(), Limit: 10})
		if err != nil {
			return nil, fmt.Errorf("find the mounter pod of DaemonSet %s/%s: %w", ds.Namespace, ds.Name, err)
		}
		var m *corev1.Pod
		for i := range list.Items {
			c := metav1.GetControllerOf(&list.Items[i])
			if list.Items[i].Status.Phase == corev1.PodRunning && c != nil && c.UID == ds.UID {
				m = &list.Items[i]
				break
			}
		}
		if m == nil {
			return nil, fmt.Errorf("no running pod of the mounter DaemonSet %s/%s on the node: does the DaemonSet tolerate the node?", ds.Namespace, ds.Name)
		}
		port := ""
		for _, c := range m.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == "http" {
					port = fmt.Sprint(p.ContainerPort)
				}
			}
		}
		if port == "" {
			return nil, fmt.Errorf("mounter pod %s/%s has no port named http", m.Namespace, m.Name)
		}
		body, err := kube.CoreV1().Pods(m.Namespace).ProxyGet("http", m.Name, port, "/status/pods/"+string(pod.UID), nil).DoRaw(ctx)
		if len(body) > maxStatusBytes {
			return nil, fmt.Errorf("mounter %s/%s: an answer over %d bytes", m.Namespace, m.Name, maxStatusBytes)
		}
		if err != nil {
			var e struct{ Error string }
			if json.Unmarshal(body, &e) == nil && e.Error != "" {
				return nil, errors.New(e.Error)
			}
			if apierrors.IsForbidden(err) {
				return nil, fmt.Errorf("pods/proxy of %s/%s is forbidden for your kubeconfig's user", m.Namespace, m.Name)
			}
			return nil, fmt.Errorf("ask mounter %s/%s: %w", m.Namespace, m.Name, err)
		}
		var ps mounter.PodStatus
		if err := json.Unmarshal(body, &ps); err != nil || len(ps.Volumes) == 0 {
			return nil, fmt.Errorf("mounter %s/%s: an answer that is not a volume status", m.Namespace, m.Name)
		}
		return &ps, nil
	}
}

// FindMounter returns the chart's mounter DaemonSet: the one selector
// selects in namespace, or, with namespace "", in the only namespace that
// has one. DaemonSets that match in two namespaces are an error naming
// them (a look-alike is never trusted silently).
func FindMounter(ctx context.Context, kube kubernetes.Interface, selector, namespace string) (*appsv1.DaemonSet, error) {
	if selector == "" {
		selector = DefaultMounterSelector
	}
	list, err := kube.AppsV1().DaemonSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: 10})
	if err != nil {
		return nil, fmt.Errorf("find the mounter DaemonSet (%s): %w", selector, err)
	}
	where := "any namespace"
	if namespace != "" {
		where = "namespace " + namespace
	}
	switch n := len(list.Items); {
	case n == 0:
		return nil, fmt.Errorf("%w: none matches %s in %s: is the chart's mode csi (or set --mounter-namespace)?", ErrNoMounter, selector, where)
	case n > 1:
		var names []string
		for _, ds := range list.Items {
			names = append(names, ds.Namespace+"/"+ds.Name)
		}
		return nil, fmt.Errorf("mounter DaemonSets %s all match %s: set --mounter-namespace to the chart's release namespace (and --mounter-selector if two releases share it)",
			strings.Join(names, ", "), selector)
	}
	return &list.Items[0], nil
}

// ErrNoMounter is the error when no DaemonSet matches the mounter selector.
var ErrNoMounter = errors.New("no mounter DaemonSet")

// Options of the doctor command.
type Options struct {
	Kubeconfig       string
	Context          string
	Output           string
	MounterSelector  string
	MounterNamespace string
	Drivers          []string
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&o.Context, "context", "", "kubeconfig context (default: the current one)")
	fs.StringVarP(&o.Output, "output", "o", "text", "text or json")
	fs.StringVar(&o.MounterSelector, "mounter-selector", DefaultMounterSelector, "label selector of the chart's mounter DaemonSet")
	fs.StringVar(&o.MounterNamespace, "mounter-namespace", "", "the chart's release namespace (default: the only namespace with a DaemonSet --mounter-selector matches)")
	fs.StringSliceVar(&o.Drivers, "driver", DefaultDrivers, "CSI driver names that are ours (the chart's driverName)")
}

// Run runs `doctor KIND NAME` (kind pod, class or namespace) and writes the
// report; a report with a ✗ is exit 1, bad usage exit 2.
func Run(ctx context.Context, o *Options, args []string, out io.Writer) error {
	if o.Output != "text" && o.Output != "json" {
		return &cli.ExitError{Code: 2, Err: fmt.Errorf("--output %q: use text or json", o.Output)}
	}
	if len(args) != 2 {
		return &cli.ExitError{Code: 2, Err: errors.New("usage: doctor pod NAMESPACE/NAME | class NAMESPACE/NAME | namespace NAME")}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context}).ClientConfig()
	if err != nil {
		return &cli.ExitError{Code: 2, Err: fmt.Errorf("kubeconfig: %w", err)}
	}
	kc, err := mounter.NewKubeCluster(cfg)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	d := &Doctor{Kube: cs, Classes: kc, Status: ProxyStatus(cs, o.MounterSelector, o.MounterNamespace),
		Drivers: o.Drivers, MounterSelector: o.MounterSelector, MounterNamespace: o.MounterNamespace}
	r, err := d.Explain(ctx, args[0], args[1])
	if err != nil {
		return &cli.ExitError{Code: 2, Err: err}
	}
	if err := Write(out, r, o.Output == "json"); err != nil {
		return err
	}
	if !r.OK {
		return &cli.ExitError{Code: 1, Err: ErrProblems}
	}
	return nil
}

// Explain runs the report of kind (pod, class, namespace) for name.
func (d *Doctor) Explain(ctx context.Context, kind, name string) (*Report, error) {
	split := func() (string, string, error) {
		ns, n, ok := strings.Cut(name, "/")
		if !ok || ns == "" || n == "" || strings.Contains(n, "/") {
			return "", "", fmt.Errorf("%s %q: write NAMESPACE/NAME", kind, name)
		}
		return ns, n, nil
	}
	switch kind {
	case "pod", "pods", "po":
		ns, n, err := split()
		if err != nil {
			return nil, err
		}
		return d.Pod(ctx, ns, n), nil
	case "class", "secretproviderclass", "spc":
		ns, n, err := split()
		if err != nil {
			return nil, err
		}
		return d.Class(ctx, ns, n), nil
	case "namespace", "ns":
		if name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("namespace %q: write the namespace's name", name)
		}
		return d.Namespace(ctx, name), nil
	}
	return nil, fmt.Errorf("%q: explain a pod, a class or a namespace", kind)
}
