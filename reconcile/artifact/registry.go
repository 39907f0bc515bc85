package artifact

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// RegistryConfig says how this process reaches OCI registries for
// `oci://` image sources: plan resolves a tag to its digest, a build
// pulls the image (once per digest, into the state directory's pull
// cache, see pullcache.go).
type RegistryConfig struct {
	// DockerConfig is a docker config.json whose auths (or credential
	// helpers) authenticate to registries. "": ~/.docker/config.json
	// when it exists (or $DOCKER_CONFIG/config.json), else anonymous.
	DockerConfig string
	// Insecure lists registries (host or host:port) reached over plain
	// HTTP. Loopback and private addresses may use HTTP anyway.
	Insecure []string
	// Transport, when not nil, carries the requests (tests).
	Transport http.RoundTripper
	// Timeout bounds resolving a tag at plan time; 0: 20 s.
	Timeout time.Duration
}

// registryConfig is the process's registry configuration: the server's
// and the CLI's flags set it once at start (SetRegistryConfig), as they
// set the image roots; examining an image source reads it.
var registryConfig atomic.Pointer[RegistryConfig]

// SetRegistryConfig sets how oci:// image sources are reached (see
// RegistryConfig). Without a call, the defaults apply.
func SetRegistryConfig(c RegistryConfig) { registryConfig.Store(&c) }

func currentRegistryConfig() *RegistryConfig {
	if c := registryConfig.Load(); c != nil {
		return c
	}
	return &RegistryConfig{}
}

// registryRef parses an oci:// source.
func (c *RegistryConfig) registryRef(src string) (name.Reference, error) {
	s := strings.TrimPrefix(src, hclspec.RegistryScheme)
	var opts []name.Option
	host, _, _ := strings.Cut(s, "/")
	if slices.Contains(c.Insecure, host) || slices.Contains(c.Insecure, strings.Split(host, ":")[0]) {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(s, opts...)
}

// keychain returns the credentials of the docker config.
func (c *RegistryConfig) keychain() (authn.Keychain, error) {
	if c.DockerConfig == "" {
		return authn.DefaultKeychain, nil
	}
	f, err := os.Open(c.DockerConfig)
	if err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	defer f.Close()
	cf, err := config.LoadFromReader(f)
	if err != nil {
		return nil, fmt.Errorf("registry config %s: %w", c.DockerConfig, err)
	}
	cf.Filename = c.DockerConfig
	return fileKeychain{cf: cf}, nil
}

// fileKeychain authenticates with one docker config file.
type fileKeychain struct{ cf *configfile.ConfigFile }

func (k fileKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	key := r.RegistryStr()
	if key == name.DefaultRegistry {
		key = authn.DefaultAuthKey
	}
	ac, err := k.cf.GetAuthConfig(key)
	if err != nil {
		return nil, err
	}
	if ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}), nil
}

// options returns the remote options for ctx and platform plat.
func (c *RegistryConfig) options(ctx context.Context, plat v1.Platform) ([]remote.Option, error) {
	kc, err := c.keychain()
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithPlatform(plat)}
	if c.Transport != nil {
		opts = append(opts, remote.WithTransport(c.Transport))
	}
	return opts, nil
}

// resolveRegistry resolves a registry source to the digest its reference
// names now (a tag's current digest; a digest as it is, once the
// registry confirmed it has it). A reference the registry does not have
// (a wrong pinned digest) is a *RepoError: only a new commit fixes it.
func resolveRegistry(img *hclspec.Image) (string, error) {
	c := currentRegistryConfig()
	ref, err := c.registryRef(img.Source)
	if err != nil {
		return "", &RepoError{err}
	}
	plat, err := platformOf(img.Platform)
	if err != nil {
		return "", &RepoError{err}
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	opts, err := c.options(ctx, plat)
	if err != nil {
		return "", err
	}
	d, err := remote.Head(ref, opts...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusMethodNotAllowed {
			var desc *remote.Descriptor
			if desc, err = remote.Get(ref, opts...); err == nil {
				return desc.Digest.String(), nil
			}
		}
		if d, isDigest := ref.(name.Digest); isDigest {
			if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
				return "", wrongDigest(img, ref)
			}
			// The reference names its digest: known without the
			// registry (a build pulls it, or fails).
			return d.DigestStr(), nil
		}
		return "", fmt.Errorf("resolving %s: %w", ref, err)
	}
	return d.Digest.String(), nil
}

// pullImage returns the registry image of digest (for img's platform)
// from the pull cache, pulling it there first when it is not yet.
func (b *Builder) pullImage(ctx context.Context, img *hclspec.Image, digest string) (v1.Image, error) {
	c := currentRegistryConfig()
	plat, err := platformOf(img.Platform)
	if err != nil {
		return nil, &RepoError{err}
	}
	pc, err := b.pullCache()
	if err != nil {
		return nil, err
	}
	if im, ok := pc.lookup(digest, plat); ok {
		b.cfg.Logger.Info("image in the pull cache", "image", img.Name, "digest", digest)
		return im, nil
	}
	ref, err := c.registryRef(img.Source)
	if err != nil {
		return nil, &RepoError{err}
	}
	dref := ref.Context().Digest(digest)
	opts, err := c.options(ctx, plat)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	rim, err := remote.Image(dref, opts...)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return nil, wrongDigest(img, dref)
	}
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", dref, err)
	}
	pr := newProgress(b.cfg.Progress, "image "+img.Name+": pulling", imageLayerBytes(rim))
	if err := pc.add(digest, plat, rim); err != nil {
		return nil, fmt.Errorf("pulling %s: %w", dref, err)
	}
	pr.finish()
	b.cfg.Logger.Info("image pulled", "image", img.Name, "digest", digest, "took", time.Since(t0).Round(time.Millisecond))
	im, ok := pc.lookup(digest, plat)
	if !ok {
		return nil, fmt.Errorf("pulling %s: not in the pull cache after the pull", dref)
	}
	return im, nil
}

// pullCacheDir is where pulled images are kept: an OCI layout under the
// artifacts, one blob per digest whichever images share it.
func (b *Builder) pullCacheDir() string { return filepath.Join(b.cfg.StateDir, "artifacts", "oci") }

// wrongDigest is a registry's answer that it has no image of a digest
// reference: a *RepoError at the image block.
func wrongDigest(img *hclspec.Image, ref name.Reference) error {
	return &RepoError{&locError{subject: img.Range.Ptr(),
		err: fmt.Errorf("digest mismatch: the registry has no image %s (image %s pins a digest it does not have)", ref, img.Name)}}
}
