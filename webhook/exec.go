package webhook

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	execcontract "github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// ExecVolumeName is the emptyDir the exec wrapper's binary is copied into (a
// suffix is appended when the pod already has a volume of that name).
const ExecVolumeName = "aws-secrets-injector-bin"

// ExecInstallContainerName is the init container that copies the wrapper's
// binary into ExecVolumeName (a suffix is appended when the name is taken).
const ExecInstallContainerName = "aws-secrets-injector-exec"

// applyExec runs the containers the exec annotations select under the exec
// wrapper (the contract in the doc of package envexec), after the mode's
// mutator mounted the secrets at t.Annotations.MountPath in them:
//
//  1. check everything first (containers, commands, mounts, env, the
//     class's file names against the mapping), so a denial changes nothing;
//  2. add the emptyDir (default medium: the binary is no secret, and a
//     memory emptyDir would charge its size to the pod's memory);
//  3. add, first of the init containers, the copy container: the webhook's
//     image runs the lean /asi-exec's `exec --install`, which copies itself
//     (no shell needed) into the emptyDir, mounted writable there only;
//  4. in each wrapped container mount the emptyDir read-only (a writable
//     copy would turn an app's file-write bug into code execution), set the
//     wrapper's variables, and rewrite the command to the wrapper followed
//     by the original command and args (args folded into the command, as
//     the kubelet appends them).
//
// Errors are *DeniedError.
func applyExec(pod *corev1.Pod, t *Target, cfg *Config) error {
	e, a := t.Annotations.Exec, t.Annotations
	if cfg.InjectorImage == "" {
		return deny(annErr(AnnotationExec, "remove it, or ask the operator to set the webhook's --injector-image",
			"the exec wrapper is not enabled on this webhook (no injector image configured to copy it from)"))
	}
	// 1. Checks.
	idx, err := execContainers(pod, t)
	if err != nil {
		return deny(err)
	}
	if err := checkExecMountPath(a.MountPath); err != nil {
		return deny(err)
	}
	vars, err := execcontract.Vars{EnvFrom: a.MountPath, Env: e.Env, OnChange: e.OnChange, GracePeriod: e.GracePeriod}.List()
	if err != nil {
		return fmt.Errorf("render the exec wrapper's environment: %w", err)
	}
	for _, i := range idx {
		if err := checkWrappable(&pod.Spec.Containers[i], vars); err != nil {
			return deny(err)
		}
	}
	if err := bindClassFiles(t, e); err != nil {
		return deny(err)
	}

	// 2. The emptyDir.
	vol := uniqueVolumeName(pod, ExecVolumeName)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
		Name:         vol,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
	})

	// 3. The copy container, first: nothing it does depends on another.
	install := corev1.Container{
		Name:                     uniqueContainerName(pod, ExecInstallContainerName),
		Image:                    cfg.InjectorImage,
		ImagePullPolicy:          cfg.Init.PullPolicy,
		Command:                  []string{execcontract.ImageBinary},
		Args:                     execcontract.InstallArgs(execcontract.BinDir),
		Resources:                *cfg.Init.Resources.DeepCopy(),
		VolumeMounts:             []corev1.VolumeMount{{Name: vol, MountPath: execcontract.BinDir}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          injectorSecurityContext(pod.Spec.SecurityContext),
	}
	pod.Spec.InitContainers = append([]corev1.Container{install}, pod.Spec.InitContainers...)

	// 4. The wrapped containers.
	for _, i := range idx {
		c := &pod.Spec.Containers[i]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: vol, MountPath: execcontract.BinDir, ReadOnly: true})
		for _, kv := range vars {
			c.Env = append(c.Env, corev1.EnvVar{Name: kv[0], Value: kv[1]})
		}
		argv := append(slices.Clone(c.Command), c.Args...)
		c.Command, c.Args = execcontract.Command(execcontract.Binary, argv), nil
	}
	return nil
}

// execContainers returns the indexes of the containers to wrap: those named
// by exec-containers, else every container the secrets are mounted into.
// Each must be one the secrets are mounted into.
func execContainers(pod *corev1.Pod, t *Target) ([]int, error) {
	if t.Annotations.Exec.Containers == nil {
		return t.Containers, nil
	}
	mounted := make([]string, len(t.Containers))
	for j, i := range t.Containers {
		mounted[j] = pod.Spec.Containers[i].Name
	}
	var idx []int
	for _, name := range t.Annotations.Exec.Containers {
		i := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == name })
		switch {
		case i < 0 && slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == name }):
			return nil, annErr(AnnotationExecContainers, fmt.Sprintf("list app containers only: %v", mounted),
				"%q is an init container: the secrets are mounted into app containers only", name)
		case !slices.Contains(t.Containers, i):
			return nil, annErr(AnnotationExecContainers, fmt.Sprintf("use one of the containers the secrets are mounted into: %v (annotation %s)", mounted, AnnotationContainers),
				"the secrets are not mounted into a container named %q", name)
		}
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx, nil
}

// checkExecMountPath refuses a secrets mount path that is the wrapper's
// directory, inside it, or above it.
func checkExecMountPath(mountPath string) error {
	if mountPath == execcontract.BinDir || strings.HasPrefix(mountPath, execcontract.BinDir+"/") ||
		strings.HasPrefix(execcontract.BinDir, mountPath+"/") {
		return annErr(AnnotationMountPath, "choose a mount path outside "+execcontract.BinDir,
			"%q overlaps %s, where the exec wrapper's binary is mounted", mountPath, execcontract.BinDir)
	}
	return nil
}

// checkWrappable says why container c cannot be wrapped: no command (its
// image's ENTRYPOINT is unknown here, and guessing would run something
// else), already wrapped, a mount at the wrapper's directory, or one of the
// wrapper's variables set by the pod.
func checkWrappable(c *corev1.Container, vars [][2]string) error {
	if len(c.Command) == 0 {
		return annErr(AnnotationExec, fmt.Sprintf("set command (and args) of container %q to what its image's ENTRYPOINT (and CMD) run, "+
			"e.g. command: [\"/app/server\"], or leave it out with %s", c.Name, AnnotationExecContainers),
			"container %q has no command: the wrapper must run in front of it, and its image's ENTRYPOINT is unknown at admission "+
				"(the webhook reads no registry and never guesses)", c.Name)
	}
	if c.Command[0] == execcontract.Binary {
		return annErr(AnnotationExec, fmt.Sprintf("set the app's own command in container %q", c.Name),
			"container %q already runs the exec wrapper (%s)", c.Name, execcontract.Binary)
	}
	for _, vm := range c.VolumeMounts {
		mp := path.Clean(vm.MountPath)
		if mp == execcontract.BinDir || strings.HasPrefix(mp, execcontract.BinDir+"/") {
			return annErr(AnnotationExec, fmt.Sprintf("mount volume %q elsewhere", vm.Name),
				"container %q mounts volume %q at %s, where the exec wrapper's binary goes", c.Name, vm.Name, vm.MountPath)
		}
	}
	for _, kv := range vars {
		if envIndex(c.Env, kv[0]) >= 0 {
			return annErr(AnnotationExec, "remove the variable: the exec annotations set it",
				"container %q sets %s itself", c.Name, kv[0])
		}
	}
	return nil
}

// bindClassFiles runs the wrapper's binding (contract.Bind) on the file
// names the class produces, so that a file without a variable name, two
// files mapping to one name or a mapping naming no file is a denial rather
// than a container that exits at start. A class with allKeys produces names
// known only after the fetch: then only the mapping's own syntax was checked
// (the wrapper checks the rest at start).
func bindClassFiles(t *Target, e *ExecAnnotations) error {
	var files []string
	for _, f := range t.Spec.Plan() {
		if f.Path == spc.AllKeysPlaceholder {
			return nil
		}
		files = append(files, f.Path)
	}
	field := fmt.Sprintf("SecretProviderClass %q", t.Annotations.SecretProviderClass)
	if _, err := execcontract.Bind(field, files, e.Mapping); err != nil {
		key := AnnotationExec
		if e.Env != "" {
			key = AnnotationExecEnv
		}
		return annErr(key, "", "%v", err)
	}
	return nil
}
