#!/bin/bash
# bench/run.sh: what `make bench` runs (as root, from the repository root):
# bench/storm (the same storm against gitboot serve and the reference
# dnsmasq + nginx: spread over 60 s, then the worst case within 5 s, then a
# gitboot-only storm with a restart of serve half-way), bench/scale,
# bench/notes (notes growth and status --repo at 10,000 nodes) and
# bench/boot (QEMU boot time, BIOS and UEFI, gitboot against dnsmasq +
# nginx: 5 boots each, QUICK=1 one; also `make bench-boot`), and, only
# with ONLY=debian (`make bench-debian`), bench/debian (the real Debian 12
# image: packing it, and boots to multi-user.target), and only with
# ONLY=twostage (`make bench-twostage`) two-stage against one-stage. Each
# writes its JSON summary to bench/results/NAME.json and its table to
# NAME.txt, and a line per run is appended to bench/RESULTS.md (date,
# machine, commit, peer versions, ratio).
#
#   sudo make bench            # 10,000 nodes; scale at 1k, 10k, 50k
#   sudo make bench QUICK=1    # 1,000 nodes over 15 s; scale at 100 and 500
#   sudo ONLY="storm-restart scale" bench/run.sh   # some of the runs
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results}
mkdir -p "$out"
if [[ -n "${QUICK:-}" ]]; then
  N=${N:-1000} RN=${RN:-200} SIZES=${SIZES:-100,500} WORST=${WORST:-1000} SPREAD=${SPREAD:-15s} BOOTS=${BOOTS:-1}
else
  N=${N:-10000} RN=${RN:-2000} SIZES=${SIZES:-1000,10000,50000} WORST=${WORST:-10000} SPREAD=${SPREAD:-60s} BOOTS=${BOOTS:-5}
fi
# The gitboot under test is this checkout's, built now (a stale bin/gitboot
# would be measured under this commit's name).
make -s build || exit 1
go build -o bin/storm ./bench/storm && go build -o bin/scale ./bench/scale && go build -o bin/bootbench ./bench/boot &&
  go build -o bin/debianbench ./bench/debian || exit 1
commit=$(git rev-parse --short HEAD)
machine="$(nproc) CPUs $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg) at start, shared with other work"
status=0

# wanted NAME: whether $ONLY (when set) names the run.
wanted() { [[ -z "${ONLY:-}" || " $ONLY " == *" $1 "* ]]; }
# named NAME: whether $ONLY names the run (runs only make bench-NAME starts).
named() { [[ " ${ONLY:-} " == *" $1 "* ]]; }

# run NAME COMMAND...: the table to NAME.txt, the last line to NAME.json.
run() {
  local name=$1; shift
  echo "== $name: $*"
  "$@" | tee "$out/$name.txt"
  local rc=${PIPESTATUS[0]}
  tail -n 1 "$out/$name.txt" > "$out/$name.json"
  if ((rc != 0)); then echo "== $name exited $rc"; status=1; fi
}

# storm_line NAME: one RESULTS.md line of a storm's JSON.
storm_line() {
  jq -r --arg c "$commit" --arg m "$machine" --arg n "$1" '
    def t: "\(.target) failures \(.failures), all at RUNTIME_OVERLAY after \(.seconds_to_all_runtime) s, boot p99 \(.boot_p99_s) s, peak RSS \(.server_peak_rss_bytes/1048576|floor) MB, CPU \(.server_cpu_seconds) s";
    "- \(.date) \($n) \(.nodes) nodes over \(.spread), commit \($c), \($m): \(t)" +
    (if .status_at_runtime >= 0 then ", status at RUNTIME_OVERLAY \(.status_at_runtime)" else "" end) +
    (if .restart_at_s then ", serve restarted at \(.restart_at_s) s (unreachable \(.restart_unreachable_s) s)" else "" end) +
    (if .reference then "; \(.reference|t); peers \(.peers); ratio gitboot/reference \(.ratio_seconds_to_all_runtime) (boot p99 \(.ratio_boot_p99))" else "" end)
  ' "$out/$1.json" >> bench/RESULTS.md || status=1
}

if wanted storm; then
  run storm bin/storm -nodes "$N" -spread "$SPREAD" -bin bin/gitboot
  storm_line storm
fi
if wanted storm-worst; then
  run storm-worst bin/storm -nodes "$WORST" -spread 5s -bin bin/gitboot
  storm_line storm-worst
fi
if wanted storm-restart; then
  run storm-restart bin/storm -nodes "$RN" -spread "$SPREAD" -target gitboot -restart -bin bin/gitboot
  storm_line storm-restart
fi
if wanted scale; then
  run scale bin/scale -sizes "$SIZES" -bin bin/gitboot
  jq -r --arg c "$commit" --arg m "$machine" '
    "- \(.date) scale, commit \($c), \($m): " + ([.steps[] | "\(.step) at \(.nodes): \(.seconds) s \(.peak_rss_bytes/1048576|floor) MB"] | join("; "))
  ' "$out/scale.json" >> bench/RESULTS.md || status=1
fi
if wanted boot; then
  # The small busybox image (servers and iPXE), then the real Debian 12
  # image with its /boot (packing and servers; the issue's goal).
  for img in busybox debian; do
    name=boot; [[ $img == busybox ]] || name=boot-$img
    run "$name" bin/bootbench -image "$img" -boots "$BOOTS" -bin bin/gitboot
    jq -r --arg c "$commit" --arg m "$machine" '
      def ph: to_entries | map("\(.key) \(.value)") | join(", ");
      "- \(.date) boot (\(.image // "busybox") image, QEMU TCG, median of \(.boots) boots, power-on to the image'"'"'s init), commit \($c), \($m): " +
      ([.modes[] as $mo | "\($mo) gitboot \(.median_s["gitboot/"+$mo]) s, reference \(.median_s["reference/"+$mo]) s, ratio \(.ratio[$mo]) (gitboot phases: \(.phase_median_s["gitboot/"+$mo]|ph); out of reach \(.firmware_median_s["gitboot/"+$mo]) s)"] | join("; ")) +
      "; peers \(.peers); artifacts kernel \(.artifact_bytes.kernel), image \(.artifact_bytes.image), system \(.artifact_bytes.system) bytes; reference: one initrd of \(.artifact_bytes.initrd) bytes, packed \(.reference_packing)"
    ' "$out/$name.json" >> bench/RESULTS.md || status=1
  done
fi
if wanted notes; then
  # bench/notes: notes growth and status --repo's read at 10,000 nodes,
  # 200 applied commits, 500 reboots (a go test benchmark).
  echo "== notes"
  go test -run '^$' -bench NotesHistory -benchtime 1x ./bench/notes | tee "$out/notes.txt"
  if ((PIPESTATUS[0] != 0)); then echo "== notes failed"; status=1; fi
  awk -v c="$commit" -v m="$machine" -v d="$(date -u +%FT%TZ)" '/^BenchmarkNotesHistory/ {
      for (i = 3; i < NF; i++) v[$(i+1)] = $i
      printf "- %s notes (bench/notes: 10,000 nodes, 200 applied commits, 500 reboots), commit %s, %s: notes ref %s MB packed (goal < 5), %d notes commits, %d note lines; status --repo read %s s (goal < 1), %d commits read\n",
        d, c, m, v["MB-packed"], v["notes-commits"], v["note-lines"], v["s/status"], v["commits-read"] }' "$out/notes.txt" >> bench/RESULTS.md || status=1
fi
# The Debian image (~8 min for 5 boots): only with ONLY=debian (make bench-debian).
if named debian; then
  run debian bin/debianbench -boots "$BOOTS" -bin bin/gitboot
  jq -r --arg c "$commit" --arg m "$machine" '
    def ph: to_entries | map("\(.key) \(.value)") | join(", ");
    "- \(.date) debian (Debian 12 image, QEMU TCG BIOS -m 2560, median of \(.boots) boots, power-on to multi-user.target), commit \($c), \($m): " +
    "\(.median_s) s (phases: \(.phase_median_s|ph)), \(.failures) failed; packing with gitboot apply \(.pack.seconds) s, peak RSS \(.pack.peak_rss_bytes/1048576|floor) MB, CPU \(.pack.cpu_seconds) s, image tar \(.image_tar_bytes/1048576|floor) MB, artifacts \(.pack.artifact_bytes|ph) bytes"
  ' "$out/debian.json" >> bench/RESULTS.md || status=1
fi
# Two-stage against one-stage (issue 20): the Debian image grown by 300 MiB
# of random bytes (~730 MB), the same VM (-m 2560, where both fit), each
# mode in its own run; only with ONLY=twostage (make bench-twostage).
if named twostage; then
  for mode in one-stage two-stage; do
    run "twostage-$mode" bin/debianbench -boots "$BOOTS" -bin bin/gitboot -boot "$mode" -pad-mb 300 -mem 2560 -deadline 15m
  done
  jq -rs --arg c "$commit" --arg m "$machine" '
    "- \(.[0].date) twostage (Debian 12 image + 300 MiB random, \(.[0].image_tar_bytes/1048576|floor) MB tar, QEMU TCG BIOS -m 2560, median of \(.[0].boots) boots, power-on to multi-user.target), commit \($c), \($m): " +
    "one-stage \(.[0].median_s) s (\(.[0].failures) failed), two-stage \(.[1].median_s) s (\(.[1].failures) failed), ratio two/one \(if .[0].median_s > 0 then (.[1].median_s / .[0].median_s * 1000 | round / 1000) else "n/a" end)"
  ' "$out/twostage-one-stage.json" "$out/twostage-two-stage.json" >> bench/RESULTS.md || status=1
fi
exit $status
