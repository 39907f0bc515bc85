package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// serveRegistry runs go-containerregistry's registry on a loopback port,
// pushes the image tar to it as a one-layer image (gzip layer) and
// returns the oci:// source naming it by tag, the push's duration and a
// stop function. Packing from it measures gitboot's pull.
func serveRegistry(image string) (src string, push time.Duration, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	stop = func() { srv.Close() }
	start := time.Now()
	layer, err := tarball.LayerFromFile(image)
	if err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("layer of %s: %w", image, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err == nil {
		img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	}
	if err != nil {
		stop()
		return "", 0, nil, err
	}
	src = "oci://" + ln.Addr().String() + "/bench/debian:12"
	ref, err := name.ParseReference(ln.Addr().String() + "/bench/debian:12")
	if err == nil {
		err = remote.Write(ref, img)
	}
	if err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("pushing to the local registry: %w", err)
	}
	return src, time.Since(start), stop, nil
}
