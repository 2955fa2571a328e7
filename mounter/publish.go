package mounter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// load reads the pod's SecretProviderClass and ServiceAccount and runs the
// core's pipeline as the pod (identity, fetch, extract). It touches no mount.
// On a first publish the class's warnings become an Event on the pod. It
// also returns the class's secretObjects to sync (secretObjects), checked
// before any AWS call.
func (d *Driver) load(ctx context.Context, p podInfo, first bool) (*pipeline.Result, []spc.SecretObject, error) {
	class, err := d.cfg.Cluster.SecretProviderClass(ctx, p.Namespace, p.Class)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, classify(reason.InvalidClass, fmt.Errorf("SecretProviderClass %q not found in namespace %q: create it, or fix the %s volume attribute",
				p.Class, p.Namespace, AttrSecretProviderClass))
		}
		var inv *spc.InvalidError
		if errors.As(err, &inv) {
			return nil, nil, classify(reason.InvalidClass, fmt.Errorf("SecretProviderClass %s/%s: %w", p.Namespace, p.Class, err))
		}
		return nil, nil, classify(reason.KubernetesAPI, fmt.Errorf("get SecretProviderClass %s/%s: %w", p.Namespace, p.Class, err))
	}
	checked := spc.Check(class.Parameters, spc.Options{DefaultRegion: d.cfg.DefaultRegion, Strict: d.cfg.StrictClasses})
	if err := checked.Err(); err != nil {
		return nil, nil, classify(reason.InvalidClass, fmt.Errorf("SecretProviderClass %s/%s: %w", p.Namespace, p.Class, err))
	}
	spec := checked.Spec
	if first {
		d.classWarnings(p, checked.Warnings)
	}
	objs, err := d.secretObjects(p, class, spec, first)
	if err != nil {
		return nil, nil, err
	}
	var ann map[string]string
	if !spec.UsePodIdentity {
		ann, err = d.cfg.Cluster.ServiceAccountAnnotations(ctx, p.Namespace, p.ServiceAccount)
		if err != nil {
			return nil, nil, classify(reason.KubernetesAPI, fmt.Errorf("get ServiceAccount %s/%s: %w", p.Namespace, p.ServiceAccount, err))
		}
	}
	fctx, cancel := context.WithTimeout(ctx, d.cfg.FetchTimeout)
	defer cancel()
	start := d.cfg.Now()
	res, err := d.cfg.Pipeline.Load(fctx, pipeline.Request{
		Class: p.Namespace + "/" + p.Class, Spec: spec, RegionLooked: d.cfg.RegionLooked,
		Pod:    &identity.Request{Namespace: p.Namespace, ServiceAccount: p.ServiceAccount, Annotations: ann, Tokens: p.Tokens},
		MaxAge: d.interval(p, spec),
	})
	d.cfg.Metrics.fetchSeconds.Observe(d.cfg.Now().Sub(start).Seconds())
	if err != nil {
		return nil, nil, err
	}
	return res, objs, nil
}

// secretObjects returns the class's spec.secretObjects the driver syncs: none
// when it has none, or when sync is off (--sync-secrets; a first publish then
// records an Event saying so, never silence); with sync on, they are checked
// against the class's files first (spc.CheckSecretObjects: an objectName that
// is no file, two entries writing one key), so such a class fails before any
// AWS call.
func (d *Driver) secretObjects(p podInfo, class *spc.Class, spec *spc.Spec, first bool) ([]spc.SecretObject, error) {
	if len(class.SecretObjects) == 0 {
		return nil, nil
	}
	if !d.cfg.SyncSecrets {
		if first {
			d.event(p.Namespace, p.Name, p.UID, EventSecretObjectsNotSynced, fmt.Sprintf(
				"SecretProviderClass %q: spec.secretObjects (%s) is not synced into Kubernetes Secrets: secret sync is off on this node's mounter; "+
					"the files are mounted. To sync, install the chart with mounter.syncSecrets=true (--sync-secrets; the values then sit in etcd)",
				p.Class, secretNames(class.SecretObjects)))
		}
		return nil, nil
	}
	if probs := spc.CheckSecretObjects(spec, class.SecretObjects); len(probs) > 0 {
		return nil, classify(reason.InvalidClass, fmt.Errorf("SecretProviderClass %s/%s: %w", p.Namespace, p.Class, &spc.InvalidError{Issues: probs}))
	}
	return class.SecretObjects, nil
}

// secretNames lists the Secret names of objs for a message, at most five.
func secretNames(objs []spc.SecretObject) string {
	var names []string
	for i, so := range objs {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(objs)-5))
			break
		}
		names = append(names, "Secret "+secrets.Quote(so.SecretName))
	}
	return strings.Join(names, ", ")
}

// sync creates or updates the Secrets objs declares from files, for the
// pod of v (syncSecrets); nothing without objs.
func (d *Driver) sync(ctx context.Context, v *volume, objs []spc.SecretObject, files []secrets.File) error {
	if len(objs) == 0 {
		return nil
	}
	pod := podRef{Namespace: v.PodNamespace, Name: v.PodName, UID: v.PodUID}
	if err := syncSecrets(ctx, d.cfg.Cluster, objs, files, pod); err != nil {
		return fmt.Errorf("sync spec.secretObjects of SecretProviderClass %s/%s: %w", v.PodNamespace, v.Class, err)
	}
	d.cfg.Log.V(1).Info("synced secretObjects", "volume", v.VolumeID, "pod", v.PodNamespace+"/"+v.PodName, "secrets", len(objs))
	return nil
}

// publishNew serves a volume that is not served yet: load first (so an AWS
// failure leaves nothing behind), then mount, write, sync the class's
// secretObjects (with --sync-secrets), bind read-only and save the state. Any
// failure undoes every step but the sync: a Secret written stays, owned by the
// pod, and the kubelet's retry updates it.
func (d *Driver) publishNew(ctx context.Context, volumeID, target, group string, p podInfo) (err error) {
	l, objs, err := d.load(ctx, p, true)
	if err != nil {
		return err
	}
	dir := d.volumeDir(volumeID)
	v := &volume{
		VolumeID: volumeID, TargetPath: target, StagingPath: stagingPath(dir),
		PodNamespace: p.Namespace, PodName: p.Name, PodUID: p.UID, SA: p.ServiceAccount, Class: p.Class,
		MountGroup: group, Interval: d.interval(p, l.Spec), IdentityKey: l.Identity.Key, Bytes: l.Bytes(),
	}
	defer func() {
		if err != nil {
			if cerr := d.teardown(v); cerr != nil {
				d.cfg.Log.Error(cerr, "clean up after failed publish", "volume", volumeID)
			}
		}
	}()
	if err := d.mountStaging(v); err != nil {
		return err
	}
	if _, err := d.cfg.Write(v.StagingPath, l.Files, v.gid()); err != nil {
		return classify(reason.WriteFailed, fmt.Errorf("write files: %w", err))
	}
	if err := d.sync(ctx, v, objs, l.Files); err != nil {
		return err
	}
	v.Synced = d.cfg.SyncSecrets
	// The kubelet made the target's parent (the volume's directory); only the
	// target itself is ours to create.
	if err := os.Mkdir(target, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return classify(reason.MountFailed, fmt.Errorf("create target %s: %w", target, err))
	}
	if err := d.cfg.Mounter.Mount(v.StagingPath, target, "", []string{"bind", "ro", "nosuid", "nodev", "noexec"}); err != nil {
		return classify(reason.MountFailed, fmt.Errorf("bind %s read-only: %w", target, err))
	}
	now := d.cfg.Now()
	v.LastFetch, v.LastAttempt, v.LastChange = readAt(l, now), now, now
	if err := d.saveState(v); err != nil {
		return classify(reason.MountFailed, err)
	}
	d.store(v)
	return nil
}

// mountStaging mounts a fresh tmpfs at the volume's staging path.
func (d *Driver) mountStaging(v *volume) error {
	if err := os.MkdirAll(v.StagingPath, 0o700); err != nil {
		return classify(reason.MountFailed, fmt.Errorf("create staging dir: %w", err))
	}
	opts := []string{"nosuid", "nodev", "noexec", "size=" + strconv.FormatInt(d.cfg.TmpfsSize, 10), "mode=0755"}
	if v.MountGroup != "" {
		// fsGroup: the root is root:<group> 0750 and the writer gives every file the group.
		opts = append(opts[:4], "mode=0750", "gid="+v.MountGroup)
	}
	if err := d.cfg.Mounter.Mount("tmpfs", v.StagingPath, "tmpfs", opts); err != nil {
		return classify(reason.MountFailed, fmt.Errorf("mount tmpfs: %w", err))
	}
	return nil
}

// refresh re-fetches a served volume when its interval has passed and writes
// when the content changed; then, when the files changed or the volume is not
// synced yet (a failed sync, or sync turned on since it was published), it
// syncs the class's secretObjects. A failure to fetch or write keeps the old
// files; a failure to sync keeps the new files. Either is reported with an
// Event and a metric, not to the kubelet, and retried on the first republish
// a quarter interval later.
//
// The interval counts from LastFetch, when the values served were read from
// AWS (a value shared from the node cache is as old as the read that filled
// the entry, and never older than one interval: load's MaxAge). So a volume
// serves values at most one interval old plus the kubelet's republish period,
// however its refreshes and those of other pods of the identity interleave.
func (d *Driver) refresh(ctx context.Context, cur *volume, p podInfo) {
	now := d.cfg.Now()
	v := new(volume)
	*v = *cur // copied: readers of d.volumes see whole updates only
	if now.Sub(cur.LastFetch) < cur.Interval || (cur.LastError != "" && now.Sub(cur.LastAttempt) < cur.Interval/4) {
		d.cfg.Metrics.publishes.WithLabelValues("fresh").Inc()
		return
	}
	v.LastAttempt = now
	kept := "keeping the previous files"
	l, objs, err := d.load(ctx, p, false)
	if err == nil {
		var changed bool
		changed, err = d.cfg.Write(v.StagingPath, l.Files, v.gid())
		if err == nil {
			v.Interval = d.interval(p, l.Spec)
			v.IdentityKey = l.Identity.Key
			v.Bytes = l.Bytes()
			if changed {
				v.LastChange = d.cfg.Now()
				d.cfg.Metrics.rotations.Inc()
				d.cfg.Log.Info("rotated secrets", "volume", v.VolumeID, "pod", v.PodNamespace+"/"+v.PodName, "files", len(l.Files))
			}
			if changed || !v.Synced {
				err = d.sync(ctx, v, objs, l.Files)
				v.Synced = err == nil && d.cfg.SyncSecrets
				kept = "the files are current, the Secrets are synced again on the next refresh"
			}
		} else {
			err = classify(reason.WriteFailed, fmt.Errorf("write files: %w", err))
		}
	}
	if err == nil {
		v.LastFetch = readAt(l, now)
		v.LastError = ""
		d.cfg.Metrics.publishes.WithLabelValues("refreshed").Inc()
	} else {
		r := reason.Of(err)
		v.LastError = fmt.Sprintf("%s: %s", r, err)
		d.cfg.Metrics.refreshFailures.WithLabelValues(string(r)).Inc()
		d.cfg.Log.Error(err, "refresh failed, keeping the files served", "volume", v.VolumeID, "pod", v.PodNamespace+"/"+v.PodName, "reason", r)
		d.event(v.PodNamespace, v.PodName, v.PodUID, EventSecretRefreshFailed, fmt.Sprintf("refresh failed (%s), %s: %s", r, kept, err))
	}
	if serr := d.saveState(v); serr != nil {
		d.cfg.Log.Error(serr, "save volume state", "volume", v.VolumeID)
	}
	d.store(v)
}

// readAt is when the values of l were read from AWS, now when unknown.
func readAt(l *pipeline.Result, now time.Time) time.Time {
	if l.ReadAt.IsZero() || l.ReadAt.After(now) {
		return now
	}
	return l.ReadAt
}

// teardown unmounts the target and staging mounts of v and removes its
// directories. Safe to repeat; it never removes files through a mount.
func (d *Driver) teardown(v *volume) error {
	if err := d.unmountTarget(v.TargetPath); err != nil {
		return err
	}
	dir := d.volumeDir(v.VolumeID)
	if err := d.unmountAll(stagingPath(dir)); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return classify(reason.MountFailed, fmt.Errorf("remove %s: %w", dir, err))
	}
	return nil
}

// unmountTarget unmounts target and removes the directory.
func (d *Driver) unmountTarget(target string) error {
	if err := d.unmountAll(target); err != nil {
		return err
	}
	if err := os.Remove(target); err != nil && !isNotExist(err) {
		return classify(reason.MountFailed, fmt.Errorf("remove target %s: %w", target, err))
	}
	return nil
}

// unmountAll unmounts every mount stacked on p (a retried publish may have
// stacked one); a path that is not mounted or missing is fine.
func (d *Driver) unmountAll(p string) error {
	for range 8 {
		mounted, err := isMounted(d.cfg.Mounter, p)
		if err != nil {
			return classify(reason.MountFailed, fmt.Errorf("check mount %s: %w", p, err))
		}
		if !mounted {
			return nil
		}
		if err := d.cfg.Mounter.Unmount(p); err != nil {
			return classify(reason.MountFailed, err)
		}
	}
	return classify(reason.MountFailed, fmt.Errorf("%s is still mounted after 8 unmounts", p))
}

// Restore finds the volumes served before a restart (their state files) and
// serves them again: mounts that survived are kept and refreshed on the next
// republish; volumes whose mounts are gone are cleaned up (the kubelet
// publishes them anew). The staging directory of each volume kept is
// repaired first: a mounter killed during a write leaves a partial or an
// old generation (holding values from before the rotation), a ..data_tmp and
// dangling links, none of them served, all of them removed here.
func (d *Driver) Restore() error {
	entries, err := os.ReadDir(d.volumesDir())
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", d.volumesDir(), err)
	}
	for _, e := range entries {
		dir := filepath.Join(d.volumesDir(), e.Name())
		v, err := loadState(dir)
		if err != nil {
			d.cfg.Log.Error(err, "skip unreadable volume state", "dir", dir)
			continue
		}
		tm, err1 := isMounted(d.cfg.Mounter, v.TargetPath)
		sm, err2 := isMounted(d.cfg.Mounter, v.StagingPath)
		if err1 == nil && err2 == nil && tm && sm {
			if err := d.cfg.Repair(v.StagingPath); err != nil {
				// The files served are unchanged; the next write repairs again.
				d.cfg.Log.Error(err, "repair restored volume", "volume", v.VolumeID, "pod", v.PodNamespace+"/"+v.PodName, "reason", reason.Of(err))
			}
			d.store(v)
			d.cfg.Log.Info("restored volume", "volume", v.VolumeID, "pod", v.PodNamespace+"/"+v.PodName)
			continue
		}
		if err := d.teardown(v); err != nil {
			d.cfg.Log.Error(err, "clean up stale volume", "volume", v.VolumeID)
		}
	}
	return nil
}

// interval is the rotation interval of a volume: the pod's volume attribute,
// else the class's refreshInterval, else the flag.
func (d *Driver) interval(p podInfo, s *spc.Spec) time.Duration {
	if p.RefreshInterval > 0 {
		return p.RefreshInterval
	}
	if s != nil && s.RefreshInterval > 0 {
		return s.RefreshInterval
	}
	return d.cfg.RefreshInterval
}

// classWarnings records one Warning Event on the pod of a first publish
// listing what its class declares that likely does not do what its author
// meant (an unknown key and its "did you mean"; spc.DeliveryWarnings);
// refreshes do not repeat it.
func (d *Driver) classWarnings(p podInfo, warns []*secrets.Problem) {
	warns = spc.DeliveryWarnings(warns)
	var msgs []string
	for _, w := range warns {
		if len(msgs) == 8 {
			msgs = append(msgs, fmt.Sprintf("and %d more (aws-secrets-injector validate lists them all)", len(warns)-8))
			break
		}
		msgs = append(msgs, w.Error())
	}
	if len(msgs) > 0 {
		d.event(p.Namespace, p.Name, p.UID, EventClassWarning, fmt.Sprintf("SecretProviderClass %q: %s", p.Class, strings.Join(msgs, "; ")))
	}
}

// event records a Warning Event on the pod.
func (d *Driver) event(ns, name, uid, reason, msg string) {
	if d.cfg.Events == nil || name == "" {
		return
	}
	ref := &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: name, UID: types.UID(uid)}
	d.cfg.Events.Event(ref, corev1.EventTypeWarning, reason, msg)
}
