#!/usr/bin/env bash
# Generate a seeded Synthea population of women with the breast_cancer module,
# offline, from Maven Central artifacts only (org.mitre.synthea:synthea, see
# tests/synthea/pom.xml), and write one FHIR R4 transaction Bundle (JSON) per
# patient into OUTDIR.
#
# Usage: scripts/synthea.sh OUTDIR [POPULATION] [SEED] [-- EXTRA SYNTHEA ARGS...]
#   POPULATION  living people to generate (default 100; Synthea also exports
#               the people who died during the simulation, so there may be more)
#   SEED        Synthea seed, also used as the clinician seed (default 12345)
#   EXTRA       passed to Synthea as they are, e.g.
#               --exporter.fhir.excluded_resources=Claim,ExplanationOfBenefit
#
# Environment (all optional):
#   SYNTHEA_MODULES   -m module filter, colon separated, wildcards allowed
#                     (default breast_cancer; "all" = every module, which adds
#                     liver labs, LVEF, comorbidities but makes bundles ~20x larger)
#   SYNTHEA_KEEP      keep only matching patients (Synthea -k), one of
#                     breast_cancer, her2 (HER2-positive), metastatic (M1 / stage 4),
#                     her2_metastatic, or a keep-module path (tests/synthea/keep_*.json);
#                     default none (plain population: ~8-15% get breast cancer).
#                     Rejected people are regenerated, so this is slower: about
#                     6 s per breast_cancer patient, minutes per her2_metastatic one
#   SYNTHEA_YEARS     exporter.years_of_history (default 0 = the whole life;
#                     10 = Synthea's default, drops older markers/medications)
#   SYNTHEA_REFERENCE_DATE  YYYYMMDD the ages (-a) are counted at (Synthea -r);
#                     default 20260101; "now" = today
#   SYNTHEA_END_DATE  YYYYMMDD the simulation stops at (Synthea -e); default the
#                     reference date. Both are fixed so that a seed always gives
#                     the same patient bundles; without -e Synthea runs up to the
#                     machine's clock and the output changes every day.
#   SYNTHEA_AGES      -a age range (default 40-85)
#   SYNTHEA_GENDER    -g (default F)
#   SYNTHEA_STATE     US state (default Massachusetts)
#   SYNTHEA_JAVA_OPTS JVM options (default -Xmx4g)
#
# OUTDIR/*.json are the patient bundles; OUTDIR/shared/ holds the Organization,
# Location and Practitioner bundles the patient bundles point at with
# conditional references (Organization?identifier=...): load those first when
# posting to a FHIR server. OUTDIR must be empty or an earlier output of this
# script (then its *.json files are replaced). Keep it under var/ or
# synthea-output/ (both gitignored).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
  usage
  exit 2
fi

OUTDIR=$1; shift
POPULATION=100
SEED=12345
if [[ $# -gt 0 && "$1" != "--" ]]; then POPULATION=$1; shift; fi
if [[ $# -gt 0 && "$1" != "--" ]]; then SEED=$1; shift; fi
if [[ $# -gt 0 && "$1" == "--" ]]; then shift; fi
EXTRA=("$@")

[[ "$POPULATION" =~ ^[0-9]+$ ]] || { echo "synthea.sh: POPULATION must be a number: $POPULATION" >&2; exit 2; }
[[ "$SEED" =~ ^-?[0-9]+$ ]] || { echo "synthea.sh: SEED must be a number: $SEED" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SYNTHEA_DIR=$ROOT/tests/synthea
CACHE=${SYNTHEA_CACHE:-$ROOT/var/synthea}
MODULES=${SYNTHEA_MODULES:-breast_cancer}
KEEP=${SYNTHEA_KEEP:-}
YEARS=${SYNTHEA_YEARS:-0}
REFERENCE_DATE=${SYNTHEA_REFERENCE_DATE:-20260101}
END_DATE=${SYNTHEA_END_DATE:-$REFERENCE_DATE}
AGES=${SYNTHEA_AGES:-40-85}
GENDER=${SYNTHEA_GENDER:-F}
STATE=${SYNTHEA_STATE:-Massachusetts}
read -r -a JAVA_OPTS <<< "${SYNTHEA_JAVA_OPTS:--Xmx4g}"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

command -v java >/dev/null || { echo "synthea.sh: java (17+) is required" >&2; exit 1; }

# ---- build: resolve the Synthea jar and its runtime dependencies (cached) ----
mkdir -p "$CACHE"
CLASSPATH_FILE=$CACHE/classpath.txt
classpath_ok() {
  [[ -s "$CLASSPATH_FILE" && "$CLASSPATH_FILE" -nt "$SYNTHEA_DIR/pom.xml" ]] || return 1
  local entry
  IFS=: read -r -a entries < "$CLASSPATH_FILE"
  for entry in "${entries[@]}"; do [[ -f "$entry" ]] || return 1; done
}
if ! classpath_ok; then
  command -v mvn >/dev/null || { echo "synthea.sh: mvn is required for the first run" >&2; exit 1; }
  echo "synthea.sh: resolving org.mitre.synthea:synthea and dependencies from Maven Central..."
  t0=$(now)
  mvn -B -q -f "$SYNTHEA_DIR/pom.xml" dependency:build-classpath \
    -Dmdep.includeScope=runtime -Dmdep.outputFile="$CLASSPATH_FILE.tmp" >"$CACHE/build.log" 2>&1 \
    || { cat "$CACHE/build.log" >&2; echo "synthea.sh: maven build failed" >&2; exit 1; }
  mv "$CLASSPATH_FILE.tmp" "$CLASSPATH_FILE"
  echo "synthea.sh: build took $(elapsed "$t0") s ($(tr ':' '\n' < "$CLASSPATH_FILE" | wc -l) jars)"
else
  echo "synthea.sh: using cached classpath $CLASSPATH_FILE"
fi

# ---- output directory ----
MARKER=.synthea-run
LOG=.synthea-generate.log
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
if [[ -n "$(ls -A "$OUTDIR")" ]]; then
  if [[ -f "$OUTDIR/$MARKER" ]]; then
    rm -f "$OUTDIR"/*.json "$OUTDIR"/shared/*.json "$OUTDIR/$MARKER" "$OUTDIR/$LOG"
  else
    echo "synthea.sh: $OUTDIR is not empty and was not written by this script; refusing to overwrite" >&2
    exit 1
  fi
fi
echo "incomplete" > "$OUTDIR/$MARKER"

# ---- generate ----
ARGS=(-s "$SEED" -cs "$SEED" -p "$POPULATION" -g "$GENDER" -a "$AGES")
[[ "$REFERENCE_DATE" == "now" ]] || ARGS+=(-r "$REFERENCE_DATE")
[[ "$END_DATE" == "now" ]] || ARGS+=(-e "$END_DATE")
[[ "$MODULES" == "all" ]] || ARGS+=(-m "$MODULES")
case "$KEEP" in
  "") ;;
  breast_cancer) ARGS+=(-k "$SYNTHEA_DIR/keep_breast_cancer.json") ;;
  her2) ARGS+=(-k "$SYNTHEA_DIR/keep_her2_positive.json") ;;
  metastatic) ARGS+=(-k "$SYNTHEA_DIR/keep_metastatic.json") ;;
  her2_metastatic) ARGS+=(-k "$SYNTHEA_DIR/keep_her2_metastatic.json") ;;
  *) [[ -f "$KEEP" ]] || { echo "synthea.sh: no keep module $KEEP" >&2; exit 2; }
     ARGS+=(-k "$(cd "$(dirname "$KEEP")" && pwd)/$(basename "$KEEP")") ;;
esac
# rare kinds of patient need more tries than Synthea's default 1000 per kept person
[[ -z "$KEEP" ]] || ARGS+=(--generate.max_attempts_to_keep_patient=20000)
WORK=$(mktemp -d "$CACHE/run.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'rm -rf "$WORK"; exit 130' INT TERM
ARGS+=(
  --exporter.baseDirectory="$WORK/"
  --exporter.fhir.export=true
  --exporter.fhir.transaction_bundle=true
  --exporter.fhir.bulk_data=false
  --exporter.fhir_stu3.export=false
  --exporter.fhir_dstu2.export=false
  --exporter.ccda.export=false
  --exporter.csv.export=false
  --exporter.cpcds.export=false
  --exporter.text.export=false
  --exporter.json.export=false
  --exporter.bfd.export=false
  --exporter.cdw.export=false
  --exporter.symptoms.csv.export=false
  --exporter.symptoms.text.export=false
  --exporter.clinical_note.export=false
  --exporter.groups.fhir.export=false
  --exporter.metadata.export=false
  --exporter.hospital.fhir.export=true
  --exporter.practitioner.fhir.export=true
  --exporter.years_of_history="$YEARS"
  --generate.log_patients.detail=simple
)
ARGS+=("${EXTRA[@]}" "$STATE")

echo "synthea.sh: java App ${ARGS[*]}"
t0=$(now)
( cd "$WORK" && java "${JAVA_OPTS[@]}" -cp "$(cat "$CLASSPATH_FILE")" App "${ARGS[@]}" ) >"$OUTDIR/$LOG" 2>&1 \
  || { tail -50 "$OUTDIR/$LOG" >&2; echo "synthea.sh: generation failed (log: $OUTDIR/$LOG)" >&2; exit 1; }
GEN_TIME=$(elapsed "$t0")
grep -E '^Records:' "$OUTDIR/$LOG" || true

# ---- collect ----
mkdir -p "$OUTDIR/shared"
shopt -s nullglob
for f in "$WORK"/fhir/*.json; do
  case "$(basename "$f")" in
    hospitalInformation*.json) mv "$f" "$OUTDIR/shared/hospitalInformation.json" ;;
    practitionerInformation*.json) mv "$f" "$OUTDIR/shared/practitionerInformation.json" ;;
    *) mv "$f" "$OUTDIR/" ;;
  esac
done
printf 'seed=%s population=%s modules=%s keep=%s years_of_history=%s reference_date=%s end_date=%s ages=%s gender=%s state=%s extra=%s\n' \
  "$SEED" "$POPULATION" "$MODULES" "${KEEP:-none}" "$YEARS" "$REFERENCE_DATE" "$END_DATE" "$AGES" "$GENDER" "$STATE" "${EXTRA[*]}" > "$OUTDIR/$MARKER"
patients=("$OUTDIR"/*.json)
echo "synthea.sh: wrote ${#patients[@]} patient bundles ($(du -sh "$OUTDIR" | cut -f1)) to $OUTDIR in $GEN_TIME s"
