package provider

import (
	"fmt"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// encode turns the pipeline's result into the MountResponse the driver
// writes: every file with its mode (the driver applies it as given), and one
// ObjectVersion per object (id = its file name, version = the Secrets
// Manager VersionId or SSM version, as ASCP answers). It refuses what the
// driver would refuse: a response at or over maxBytes (the driver's receive
// limit) and a path its writer rejects, which the core's own path check
// should already have stopped with the object named.
func encode(res *pipeline.Result, maxBytes int) (*v1alpha1.MountResponse, error) {
	resp := &v1alpha1.MountResponse{
		Files:         make([]*v1alpha1.File, 0, len(res.Files)),
		ObjectVersion: make([]*v1alpha1.ObjectVersion, 0, len(res.Versions)),
	}
	for _, f := range res.Files {
		if prob := driverPathProblem(f.Path); prob != "" {
			return nil, &secrets.Problem{Object: -1, Field: "files", Kind: reason.Internal,
				Problem: "the core built a path the driver's writer refuses: " + prob}
		}
		mode := int32(f.Mode.Perm()) //nolint:gosec // Perm() is at most 0777
		resp.Files = append(resp.Files, &v1alpha1.File{Path: f.Path, Mode: mode, Contents: f.Content.Bytes()})
	}
	for _, v := range res.Versions {
		resp.ObjectVersion = append(resp.ObjectVersion, &v1alpha1.ObjectVersion{Id: v.ID, Version: v.Version})
	}
	if len(resp.ObjectVersion) == 0 {
		// The driver fails a mount without versions ("missing object versions").
		return nil, &secrets.Problem{Object: -1, Field: "object_version", Kind: reason.Internal, Problem: "no object was mounted"}
	}
	if n := proto.Size(resp); n >= maxBytes {
		return nil, &secrets.Problem{Object: -1, Field: "files", Kind: reason.LimitExceeded,
			Problem: fmt.Sprintf("the response would be %d bytes (%d files, %d bytes of content), over the Secrets Store CSI driver's "+
				"receive limit of %d bytes (its --max-call-recv-msg-size, %d MiB by default)", n, len(res.Files), res.Bytes(), maxBytes, DriverMaxRecvMsgSize>>20),
			Fix: "mount fewer or smaller objects with this SecretProviderClass (split it across volumes), or raise the driver's " +
				"--max-call-recv-msg-size and this provider's --driver-max-recv-msg-size together"}
	}
	return resp, nil
}

// driverPathProblem is what the driver's writer (validatePath) would say
// about p, "" when it accepts it: secrets.PathProblem is at least as strict,
// and the driver also wants p clean.
func driverPathProblem(p string) string {
	if prob := secrets.PathProblem(p); prob != "" {
		return prob
	}
	if filepath.Clean(p) != p {
		return secrets.Quote(p) + " is not a clean path"
	}
	return ""
}
