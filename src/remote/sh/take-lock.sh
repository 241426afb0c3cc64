# take-lock.sh PATH LAYOUT HEX SIZE OWNER STALE DEAD: takes a blob's lock without sending anything.
# answers: published (the blob is in place), acquired, or busy <owner>.
given=$1; layout=$2; h=$3; size=$4; me=$5; stale=$6; dead=$7
enter_store "$given" "$layout" || exit 1
if has_dir blobs && is_published "blobs/sha256-$h" "$size"; then echo published; exit 0; fi
enter_staging
take_lock "$h" || exit 0
echo acquired
