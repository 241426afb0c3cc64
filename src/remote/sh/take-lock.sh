# take-lock.sh PATH LAYOUT HEX SIZE OWNER STALE DEAD: takes a blob's lock without sending anything.
# answers: stored (the blob is complete: verified in the staging or published), acquired, or busy <owner>.
given=$1; layout=$2; h=$3; size=$4; me=$5; stale=$6; dead=$7
enter_store "$given" "$layout" || exit 1
has_dir blobs || true
enter_staging
if blob_stored "$h" "$size"; then echo stored; exit 0; fi
take_lock "$h" || exit 0
echo acquired
