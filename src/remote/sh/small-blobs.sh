# small-blobs.sh PATH LAYOUT HASHER CHOWN: a batch of whole blobs (configs, templates, params, tensors) in
# one command: unpacked into a new private directory in the staging, verified with one run of the
# hasher, then renamed into blobs/ together, so no lock is needed and the cost per blob is a few bytes
# of tar header, not a process.
#   HASHER  openssl, sha256sum or shasum
#   CHOWN   USER[:GROUP] to give the published files (and a blobs/ made for them), or empty
# stdin: a tar (from the client, never from the destination) of regular files named sha256-<hex>.
# answers one line per blob: `<hex> published` or `<hex> mismatch <sha256>`.
given=$1; layout=$2; hasher=$3; co=$4
enter_store "$given" "$layout" || exit 1
(enter_dir blobs create) || exit $?
enter_staging
st=$PWD
batch=$(mktemp -d batch.XXXXXXXXXX) || exit 1
trap 'cd -P -- "$st" && rm -rf -- "$batch"' EXIT
cd -P -- "$batch" || exit 1
# -o: the files are the pushing user's, whatever the archive says.
tar -xof - || exit 1
case $hasher in
  openssl) set -- openssl dgst -sha256 -r ;;
  sha256sum) set -- sha256sum ;;
  shasum) set -- shasum -a 256 ;;
  *) echo "no sha256 tool (openssl, sha256sum or shasum) on the destination" >&2; exit 1 ;;
esac
# Lines `<sha256> [*]./sha256-<hex>` become `ok <hex>` or `bad <hex> <sha256>`.
verdicts=$(find . -type f -name 'sha256-*' -exec "$@" {} + | awk '{
  name = $NF; sub(/^\*/, "", name); sub(/^\.\//, "", name); want = substr(name, 8)
  if ($1 == want) print "ok", want; else print "bad", want, $1
}') || exit 1
printf '%s\n' "$verdicts" | while read -r verdict h sum; do
  [ "$verdict" = bad ] || continue
  rm -f -- "sha256-$h"
  echo "$h mismatch $sum"
done
[ -n "$(find . -type f -name 'sha256-*' | head -n 1)" ] || exit 0
find . -type f -name 'sha256-*' -exec touch {} + || exit 1
[ -z "$co" ] || find . -type f -name 'sha256-*' -exec chown -h "$co" {} + || exit 1
cd -P .. && cd -P .. && enter_dir blobs
[ -z "$co" ] || chown -h "$co" . || exit 1
# GNU and busybox mv -t rename over a link at a name, never into it; BSD mv is told per file (-h).
case $(uname -s) in
  Darwin | *BSD | DragonFly)
    for f in "../.ollama-push/$batch"/sha256-*; do mv_nofollow "$f" "${f##*/}"; done ;;
  *) find "../.ollama-push/$batch" -type f -name 'sha256-*' -exec mv -f -t . {} + || exit 1 ;;
esac
cd -P .. || exit 1
printf '%s\n' "$verdicts" | awk '$1 == "ok" { print $2 }' | while read -r h; do
  if [ -L "blobs/sha256-$h" ] || [ ! -f "blobs/sha256-$h" ]; then
    unsafe "$PWD/blobs/sha256-$h was not a regular file after it was renamed into place"
  fi
  echo "$h published"
done
