# commit-blob.sh PATH LAYOUT HEX SIZE OWNER STALE DEAD HASHER CHOWN FOLLOWED: verifies a staged blob and
# renames it into blobs/.
#   HASHER    openssl, sha256sum or shasum
#   CHOWN     USER[:GROUP] to give the published file (and a blobs/ made for it), or empty
#   FOLLOWED  the sha256 hash-follow computed of the same data as it was written; when it is HEX, the
#             data need not be read again
# answers: published, mismatch size:<actual> or mismatch sha256:<actual> (the staging is dropped), or
# busy <owner>.
given=$1; layout=$2; h=$3; size=$4; me=$5; stale=$6; dead=$7; hasher=$8; co=$9; followed=${10}
enter_store "$given" "$layout" || exit 1
if has_dir blobs && is_published "blobs/sha256-$h" "$size"; then echo published; exit 0; fi
enter_staging
take_lock "$h" || exit 0
drop() { rm -rf -- "sha256-$h" "sha256-$h.lock"; }
answer=$(
  enter_blob_staging "$h"
  [ "$size" = 0 ] && : > data
  actual=$(wc -c < data 2>/dev/null | tr -d ' ')
  if [ "$actual" != "$size" ]; then echo "mismatch size:${actual:-0}"; exit 0; fi
  if [ "$followed" = "$h" ]; then sum=$h; else sum=$(sha256_file data "$size") || exit 1; fi
  if [ "$sum" != "$h" ]; then echo "mismatch sha256:$sum"; exit 0; fi
  chmod 644 data && touch data || exit 1
  [ -z "$co" ] || chown -h "$co" data || exit 1
  cd -P ../.. || exit 1
  enter_dir blobs create
  [ -z "$co" ] || chown -h "$co" . || exit 1
  mv_nofollow "../.ollama-push/sha256-$h/data" "sha256-$h"
  echo published
) || exit $?
drop
echo "$answer"
