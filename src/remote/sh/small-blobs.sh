# small-blobs.sh PATH LAYOUT HASHER CHOWN: small blobs (configs, templates, params) all in one command, each
# written to its own new file in the staging, verified and renamed into blobs/, so no lock is needed.
#   HASHER  openssl, sha256sum or shasum
#   CHOWN   USER[:GROUP] to give the published files (and a blobs/ made for them), or empty
# stdin: lines `<hex> <size>`, a line `.`, then those blobs' bytes one after another.
# answers one line per blob: `<hex> published` or `<hex> mismatch <sha256>`.
given=$1; layout=$2; hasher=$3; co=$4
enter_store "$given" "$layout" || exit 1
(enter_dir blobs create) || exit $?
enter_staging
set --
while read -r h size && [ "$h" != . ]; do set -- "$@" "$h:$size"; done
exact_dd && exact_dd=1
for b in "$@"; do
  h=${b%:*}; size=${b#*:}
  if blob_published "$h" "$size"; then take_bytes "$size" > /dev/null; echo "$h published"; continue; fi
  tmp=$(mktemp small.XXXXXXXXXX) || exit 1
  take_bytes "$size" > "$tmp" || { rm -f "$tmp"; exit 1; }
  sum=$(sha256_of < "$tmp") || { rm -f "$tmp"; exit 1; }
  if [ "$sum" != "$h" ]; then rm -f "$tmp"; echo "$h mismatch $sum"; continue; fi
  chmod 644 "$tmp" || exit 1
  [ -z "$co" ] || chown -h "$co" "$tmp" || exit 1
  (
    cd -P .. && enter_dir blobs
    [ -z "$co" ] || chown -h "$co" . || exit 1
    mv_nofollow "../.ollama-push/$tmp" "sha256-$h"
  ) || { set -- $?; rm -f "$tmp"; exit "$1"; }
  echo "$h published"
done
