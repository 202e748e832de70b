#!/usr/bin/env bash
# The main job, end to end on the bundled e-SNLI dev data (run by `make demo`; see README "The demo").
# e-SNLI pairs -> builders (offline models) -> Label Studio (pre-annotated tasks; e-SNLI's three human
# explanations per pair submitted by annotators a1, a2, a3 through the API) -> pull -> validation report
# -> gates -> versioned Hugging Face dataset. The Label Studio server is left running for a person to look at.
set -euo pipefail
export WHYSET_HOME=${WHYSET_HOME:-$PWD/work}   # model cache and Label Studio's venv (make sets it too)
SHARED=${SHARED:-../shared}
PAIRS=${PAIRS:-100}
DEMO=${DEMO:-work/demo}
RECIPE=${RECIPE:-examples/demo-recipe.toml}   # its [sources] limit should match PAIRS
HOME_DIR=$DEMO/studio
W=.venv/bin/whyset
S="--store $DEMO/esnli.duckdb"
H="--home $HOME_DIR"

step() { printf '\n== %s\n' "$*"; }

$W studio down $H >/dev/null 2>&1 || true      # a previous demo's servers, by their PIDs
rm -rf $DEMO && mkdir -p $HOME_DIR

step "import the e-SNLI dev pairs (the human explanations arrive later, through Label Studio)"
$W import esnli $SHARED/data/esnli-dev --no-explanations $S

step "start a Label Studio server per annotator in the background (blind by design; the first ever start migrates a template, ~40 s) and build candidates for the first $PAIRS pairs"
$W studio up alice,bob,a1,a2,a3 $H >$DEMO/studio-up.log 2>&1 &
studio_up=$!
trap 'wait $studio_up; $W studio down $H >/dev/null 2>&1' ERR   # a failed build stops the servers it started
$W build $RECIPE $S
wait $studio_up || { cat $DEMO/studio-up.log; exit 1; }
trap - ERR
cat $DEMO/studio-up.log

step "push pre-annotated tasks: rationales (2 annotators per pair, blind), counterfactual and QA reviews"
$W push --kind rationale --round demo-rationale --annotators alice,bob --k 2 --limit $PAIRS \
    --guideline examples/guidelines/rationale.md --guideline-version 1.0 $H $S
$W push --kind counterfactual --round demo-counterfactual --annotators alice,bob --k 1 \
    --guideline examples/guidelines/counterfactual.md --guideline-version 1.0 $H $S
$W push --kind qa --round demo-qa --annotators alice,bob --k 1 \
    --guideline examples/guidelines/qa.md --guideline-version 1.0 $H $S

step "e-SNLI's human explanations: a free-text round for a1, a2, a3, submitted as each of them"
$W push --kind freetext --round esnli-human --annotators a1,a2,a3 --k 3 --limit $PAIRS \
    --guideline examples/guidelines/freetext.md --guideline-version e-SNLI-2018 $H $S
$W studio replay-esnli $SHARED/data/esnli-dev --round esnli-human --limit $PAIRS $H $S

step "pull every round back into the store"
for round in esnli-human demo-rationale demo-counterfactual demo-qa; do $W pull --round $round $H $S; done

step "validate (HTML report) and export with gates"
$W validate run --gates examples/demo-gates.toml --report $DEMO/validation-report.html $S
$W export $DEMO/dataset --gates examples/demo-gates.toml --annotated-only --include-candidates $S
$W info $S

step "where everything is"
echo "report:       $DEMO/validation-report.html"
echo "dataset:      $DEMO/dataset   (datasets.load_dataset('$DEMO/dataset', 'qa_explanations'))"
echo "store:        $DEMO/esnli.duckdb"
$W studio status $H
$W studio accounts alice,bob,a1,a2,a3 $H
echo "stop it with: .venv/bin/whyset studio down $H"
