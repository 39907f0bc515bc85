#!/usr/bin/env bash
# Benchmarks of reconcile/artifact (boot artifacts). Run from anywhere:
#
#   bench/build/run.sh            # image from a 500 MiB tree vs find|cpio|pigz, overlays 1,000/10,000 nodes
#   MB=64 bench/build/run.sh      # a smaller image tree
#
# The image benchmark builds the same tree with gitboot's Builder and with
# `find . | cpio -o -H newc | pigz` in the same run and reports the ratio
# peer time / gitboot time (>= 1.0 means gitboot is at least as fast).
set -euo pipefail
cd "$(dirname "$0")/../.."
MB=${MB:-500}
echo "== image: ${MB} MiB tree, gitboot vs find | cpio -o -H newc | pigz"
GITBOOT_BENCH_IMAGE_MB=$MB go test -run '^$' -bench '^BenchmarkImage$' -benchtime 1x -benchmem -timeout 30m ./reconcile/artifact
echo "== overlays: 1,000 and 10,000 nodes: full build, one node's IP changed, a shared template changed"
go test -run '^$' -bench '^BenchmarkOverlays$' -benchtime 3x -benchmem -timeout 30m ./reconcile/artifact
