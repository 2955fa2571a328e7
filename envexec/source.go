package envexec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/seed-ddac166a/aws-secrets-injector/cli/manifest"
	"github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// readTries bounds the re-reads of a directory whose generation was swapped
// while it was being read.
const readTries = 5

// readDir reads the complete file set a managed directory serves, through
// one generation: it resolves ..data, reads below that generation
// (atomicdir.Read), and resolves ..data again. When the two agree the set is
// that generation's, whole; when a swap came in between (the writer may have
// removed the old generation under the reader, which then fails) it reads
// again, at most readTries times. It returns the set and the generation.
func readDir(dir string) ([]secrets.File, string, error) {
	link := filepath.Join(dir, atomicdir.DataLink)
	var lastErr error
	for range readTries {
		before, _ := os.Readlink(link)
		// Verify first: a set whose links are not all in place is not ready.
		verr := atomicdir.Verify(dir)
		var (
			files []secrets.File
			rerr  error
		)
		if verr == nil {
			files, rerr = atomicdir.Read(dir)
		}
		after, _ := os.Readlink(link)
		if before != after {
			lastErr = fmt.Errorf("the set in %s was replaced while it was read", secrets.Quote(dir))
			continue
		}
		switch {
		case verr != nil:
			return nil, "", fmt.Errorf("secrets %w; fix: mount the secrets volume there, or correct --%s", verr, contract.FlagEnvFrom)
		case rerr != nil:
			return nil, "", fmt.Errorf("read the file set in %s: %w", secrets.Quote(dir), rerr)
		}
		return files, after, nil
	}
	return nil, "", fmt.Errorf("%w %d times; fix: the writer rotates faster than the set can be read", lastErr, readTries)
}

// generation returns the generation ..data names in dir ("" when absent).
func generation(dir string) string {
	g, err := os.Readlink(filepath.Join(dir, atomicdir.DataLink))
	if err != nil {
		return ""
	}
	return g
}

// fetcher is the fetch source: the core's pipeline acting as the process's
// own identity, loading the class without writing anything.
type fetcher struct {
	own *pipeline.Own
}

// newFetcher builds the fetch source for the class parameters params.
func newFetcher(ctx context.Context, o *Options) (*fetcher, error) {
	own, err := pipeline.NewOwn(ctx, pipeline.OwnOptions{Class: o.ClassName, Params: o.Params, LoadConfig: o.loadConfig})
	if err != nil {
		return nil, err
	}
	return &fetcher{own: own}, nil
}

// load fetches the set once.
func (f *fetcher) load(ctx context.Context) ([]secrets.File, error) {
	res, err := f.own.Load(ctx, f.own.Request)
	if err != nil {
		return nil, err
	}
	return res.Files, nil
}

// readClassFile reads a SecretProviderClass manifest holding one class
// (bounded as the operator tools bound manifests) and returns its name and
// parameters.
func readClassFile(path string) (string, map[string]string, error) {
	in := manifest.ReadFile(path)
	if in.Err != nil {
		return "", nil, fmt.Errorf("read SecretProviderClass %s: %w", in.Name, in.Err)
	}
	docs := manifest.Split(in.Data)
	if len(docs) != 1 {
		return "", nil, fmt.Errorf("%s holds %d documents; fix: give --%s a file holding one SecretProviderClass", in.Name, len(docs), contract.FlagSPC)
	}
	class, err := spc.DecodeClass(docs[0].Data)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", in.Name, err)
	}
	name := class.Name
	if class.Namespace != "" {
		name = class.Namespace + "/" + name
	}
	return name, class.Parameters, nil
}
