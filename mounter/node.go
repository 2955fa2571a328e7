package mounter

import (
	"context"
	"fmt"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// NodeServer is the CSI node service of a Driver.
type NodeServer struct {
	csi.UnimplementedNodeServer
	d *Driver
}

// Node returns the driver's CSI node service.
func (d *Driver) Node() *NodeServer { return &NodeServer{d: d} }

// NodeGetInfo reports the node ID; there is no volume limit and no topology.
func (s *NodeServer) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: s.d.cfg.NodeID}, nil
}

// NodeGetCapabilities reports VOLUME_MOUNT_GROUP: the kubelet passes the pod's
// fsGroup and the mounter makes the files group-owned (the CSIDriver sets fsGroupPolicy: File).
func (s *NodeServer) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{Capabilities: []*csi.NodeServiceCapability{{
		Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: csi.NodeServiceCapability_RPC_VOLUME_MOUNT_GROUP}},
	}}}, nil
}

// NodePublishVolume serves the pod's secrets at the target path, or refreshes
// them on a republish. Steps:
//  1. validate the request and the pod info; take the per-volume lock;
//  2. a volume already served at this target: refresh when due, return;
//  3. otherwise (first publish, or mounts gone): load, mount, write, bind read-only.
func (s *NodeServer) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	d := s.d
	if err := validatePublish(req); err != nil {
		d.failed(reason.InvalidRequest)
		return nil, err
	}
	group := req.GetVolumeCapability().GetMount().GetVolumeMountGroup()
	if group != "" {
		if _, err := strconv.ParseUint(group, 10, 32); err != nil {
			d.failed(reason.InvalidRequest)
			return nil, status.Errorf(codes.InvalidArgument, "volume_mount_group %q is not a numeric group id", group)
		}
	}
	p, err := parsePodInfo(req.GetVolumeContext(), req.GetSecrets())
	if err == nil {
		err = d.checkTarget(req.GetTargetPath(), p)
	}
	if err != nil {
		d.failed(reason.InvalidRequest)
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	id, target := req.GetVolumeId(), req.GetTargetPath()
	if !d.inflight.acquire(id) {
		return nil, status.Errorf(codes.Aborted, "an operation on volume %s is already in progress", id)
	}
	defer d.inflight.release(id)

	if v := d.lookup(id); v != nil {
		if v.TargetPath != target {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is already published at %s", id, v.TargetPath)
		}
		tm, err1 := isMounted(d.cfg.Mounter, v.TargetPath)
		sm, err2 := isMounted(d.cfg.Mounter, v.StagingPath)
		if err1 == nil && err2 == nil && tm && sm {
			d.refresh(ctx, v, p)
			return &csi.NodePublishVolumeResponse{}, nil
		}
		// The mounts are gone (node reboot, manual unmount): serve it from scratch.
		if err := d.teardown(v); err != nil {
			return nil, d.fail(p, err)
		}
		d.forget(id)
	}
	if err := d.publishNew(ctx, id, target, group, p); err != nil {
		return nil, d.fail(p, err)
	}
	d.cfg.Metrics.publishes.WithLabelValues("mounted").Inc()
	d.cfg.Log.V(1).Info("published", "volume", id, "pod", p.Namespace+"/"+p.Name, "class", p.Class)
	return &csi.NodePublishVolumeResponse{}, nil
}

// NodeUnpublishVolume unmounts and removes the target and the volume's
// staging tmpfs. Idempotent: a missing target is success. It touches only a
// volume it serves (its state file) at that target, or else a path of the
// kubelet's layout for CSI volumes that no other served volume uses; any
// other path is InvalidArgument and nothing on disk changes.
func (s *NodeServer) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	d := s.d
	id, target := req.GetVolumeId(), req.GetTargetPath()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	if target == "" {
		return nil, status.Error(codes.InvalidArgument, "target_path is required")
	}
	if !d.inflight.acquire(id) {
		return nil, status.Errorf(codes.Aborted, "an operation on volume %s is already in progress", id)
	}
	defer d.inflight.release(id)

	v := d.lookup(id)
	if v == nil {
		if st, err := loadState(d.volumeDir(id)); err == nil {
			v = st
		}
	}
	if v == nil || v.TargetPath != target {
		// Not ours (or not any more): make sure the target is gone, if it is
		// one the kubelet could have given us and no served volume uses it.
		if _, err := parseTarget(d.cfg.KubeletDir, target); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		if other := d.servedAt(target); other != "" {
			return nil, status.Errorf(codes.FailedPrecondition, "target_path %s is where volume %s is served, not volume %s: nothing was unmounted",
				secrets.Quote(target), secrets.Quote(other), secrets.Quote(id))
		}
		if err := d.unmountTarget(target); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return &csi.NodeUnpublishVolumeResponse{}, nil
	}
	if err := d.teardown(v); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	d.forget(id)
	d.cfg.Log.V(1).Info("unpublished", "volume", id, "pod", v.PodNamespace+"/"+v.PodName)
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// checkTarget checks a publish's target path against the kubelet's layout
// (parseTarget) and its pod UID against the pod's.
func (d *Driver) checkTarget(path string, p podInfo) error {
	t, err := parseTarget(d.cfg.KubeletDir, path)
	if err != nil {
		return err
	}
	if p.UID != "" && t.PodUID != p.UID {
		return fmt.Errorf("target_path %s is a volume of pod UID %s, but the volume context (%s) names pod UID %s: the kubelet never sends such a request",
			secrets.Quote(path), secrets.Quote(t.PodUID), CtxPodUID, secrets.Quote(p.UID))
	}
	return nil
}

func validatePublish(req *csi.NodePublishVolumeRequest) error {
	switch {
	case req.GetVolumeId() == "":
		return status.Error(codes.InvalidArgument, "volume_id is required")
	case req.GetTargetPath() == "":
		return status.Error(codes.InvalidArgument, "target_path is required")
	case req.GetVolumeCapability() == nil:
		return status.Error(codes.InvalidArgument, "volume_capability is required")
	case req.GetVolumeCapability().GetBlock() != nil:
		return status.Error(codes.InvalidArgument, "block access is not supported: this driver serves files")
	case !req.GetReadonly():
		return status.Error(codes.InvalidArgument, "the volume must be read-only: set readOnly: true on the pod's csi volume")
	}
	return nil
}

// fail records a failed first publish (metric, Event on the pod) and maps it
// to a gRPC status. The message carries no secret value: errors from the core
// name objects, never contents.
func (d *Driver) fail(p podInfo, err error) error {
	r := reason.Of(err)
	d.failed(r)
	d.cfg.Log.Error(err, "publish failed", "pod", p.Namespace+"/"+p.Name, "class", p.Class, "reason", r)
	d.event(p.Namespace, p.Name, p.UID, r.Event(), err.Error())
	return status.Error(grpcCode(r), err.Error())
}

func (d *Driver) failed(r reason.Reason) { d.cfg.Metrics.failures.WithLabelValues(string(r)).Inc() }

// grpcCode maps a failure reason to the gRPC status of the CSI boundary.
func grpcCode(r reason.Reason) codes.Code {
	switch r {
	case reason.InvalidRequest:
		return codes.InvalidArgument
	case reason.InvalidClass, reason.NotFound, reason.Decryption, reason.InvalidValue, reason.AWSError, reason.LimitExceeded:
		return codes.FailedPrecondition
	case reason.AccessDenied, reason.NoIdentity:
		return codes.PermissionDenied
	case reason.Throttled, reason.AWSUnavailable, reason.KubernetesAPI, reason.CredentialsUnavailable:
		return codes.Unavailable
	case reason.WriteFailed:
		return codes.ResourceExhausted
	}
	return codes.Internal
}
