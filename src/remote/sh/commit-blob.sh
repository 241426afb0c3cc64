# commit-blob.sh PATH LAYOUT HEX SIZE OWNER STALE DEAD HASHER CHOWN FOLLOWED: verifies a staged blob and
# moves it into the staging's verified/, where it waits for its manifest (publish-manifest.sh).
#   HASHER    openssl, sha256sum or shasum
#   CHOWN     USER[:GROUP] to give the file, or empty
#   FOLLOWED  the sha256 hash-follow computed of the same data as it was written; when it is HEX, the
#             data need not be read again
# answers: stored (verified now or before, or published), mismatch size:<actual> or mismatch sha256:<actual> (the staging is dropped), or
# busy <owner>.
given=$1; layout=$2; h=$3; size=$4; me=$5; stale=$6; dead=$7; hasher=$8; co=$9; followed=${10}
enter_store "$given" "$layout" || exit 1
has_dir blobs || true
enter_staging
if blob_stored "$h" "$size"; then echo stored; exit 0; fi
take_lock "$h" || exit 0
answer=$(
  enter_blob_staging "$h"
  [ "$size" = 0 ] && : > data
  actual=$(wc -c < data 2>/dev/null | tr -d ' ')
  if [ "$actual" != "$size" ]; then echo "mismatch size:${actual:-0}"; exit 0; fi
  if [ "$followed" = "$h" ]; then sum=$h; else sum=$(sha256_file data "$size") || exit 1; fi
  if [ "$sum" != "$h" ]; then echo "mismatch sha256:$sum"; exit 0; fi
  echo stored
) || exit $?
if [ "$answer" = stored ]; then keep_verified "$h"; else rm -rf -- "sha256-$h" "sha256-$h.lock"; fi
echo "$answer"
