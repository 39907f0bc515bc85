package main

import (
	"fmt"
	"os"

	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/spf13/pflag"
)

// registryFlags say how this process reaches the OCI registries of
// oci:// image sources (registered with rootFlags: every command that
// examines image sources takes them).
type registryFlags struct {
	config   string
	insecure []string
}

func (f *registryFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.config, "registry-config", "",
		"docker config.json with registry credentials for oci:// image sources (default ~/.docker/config.json, or $DOCKER_CONFIG/config.json)")
	fl.StringArrayVar(&f.insecure, "insecure-registry", nil,
		"a registry (HOST or HOST:PORT) reached over plain HTTP (repeatable)")
}

// apply sets the process's registry configuration.
func (f *registryFlags) apply() error {
	if f.config != "" {
		if _, err := os.Stat(f.config); err != nil {
			return fmt.Errorf("--registry-config: %w", err)
		}
	}
	artifact.SetRegistryConfig(artifact.RegistryConfig{DockerConfig: f.config, Insecure: f.insecure})
	return nil
}
