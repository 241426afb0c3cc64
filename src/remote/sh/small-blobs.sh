# small-blobs.sh PATH LAYOUT HASHER CHOWN: a batch of whole blobs (configs, templates, params, tensors) in
# one command: unpacked into a new private directory in the staging, verified with one run of the
# hasher, then moved together into the staging's verified/, where they wait for their manifest
# (publish-manifest.sh): no lock is needed and the cost per blob is a few bytes of tar header, not a
# process.
#   HASHER  openssl, sha256sum or shasum
#   CHOWN   USER[:GROUP] to give the files, or empty
# stdin: a tar (from the client, never from the destination) of regular files named sha256-<hex>.
# answers one line per blob: `<hex> stored` or `<hex> mismatch <sha256>`.
given=$1; layout=$2; hasher=$3; co=$4
enter_store "$given" "$layout" || exit 1
has_dir blobs || true
enter_staging
(enter_dir verified create) || exit $?
st=$PWD
batch=$(mktemp -d batch.XXXXXXXXXX) || exit 1
trap 'cd -P -- "$st" && rm -rf -- "$batch"' EXIT
cd -P -- "$batch" || exit 1
# -o: the files are the pushing user's, whatever the archive says. A batch cut short (the client killed,
# the link dropped) keeps the blobs that arrived whole: the hash below tells them from the last, partial one.
# GNU tar reads a pipe 10 KiB at a time by default: about 7 s of system CPU per GiB on the build machine,
# where 128 KiB records (-b 256, filled from the pipe with -B) take 2 s. busybox tar has no -b.
case $(tar --version 2>/dev/null) in
  *'GNU tar'*) set -- -b 256 -B ;;
  *) set -- ;;
esac
cut=0
tar "$@" -xof - || cut=1
words=$(hasher_words) || exit 1
# shellcheck disable=SC2086 # the command's words
set -- $words
# Lines `<sha256> [*]./sha256-<hex>` become `ok <hex>` or `bad <hex> <sha256>`.
verdicts=$(find . -type f -name 'sha256-*' -exec "$@" {} + | awk '{
  name = $NF; sub(/^\*/, "", name); sub(/^\.\//, "", name); want = substr(name, 8)
  if ($1 == want) print "ok", want; else print "bad", want, $1
}') || exit 1
# sh's read takes a pipe a byte at a time: awk picks the few bad lines out of thousands.
bad=$(printf '%s\n' "$verdicts" | awk '$1 == "bad" { print $2, $3 }')
[ -z "$bad" ] || printf '%s\n' "$bad" | while read -r h sum; do
  rm -f -- "sha256-$h"
  [ "$cut" = 1 ] || echo "$h mismatch $sum"
done
[ -n "$(find . -type f -name 'sha256-*' | head -n 1)" ] || exit "$cut"
find . -type f -name 'sha256-*' -exec touch {} + || exit 1
[ -z "$co" ] || find . -type f -name 'sha256-*' -exec chown -h "$co" {} + || exit 1
# Only this user writes in the staging: a plain mv of the batch's names (one exec: a batch holds at most
# a few thousand) cannot meet anyone's link.
# A publisher removes verified/ once empty: made again when that happened meanwhile.
set -- sha256-*
mv -f -- "$@" ../verified/ 2>/dev/null || { (cd -P .. && enter_dir verified create) && mv -f -- "$@" ../verified/; } || exit 1
cd -P .. || exit 1
{ (cd verified && ls -a) && echo / && printf '%s\n' "$verdicts"; } | awk -v dir="$PWD/verified" '
  !listed { if ($0 == "/") listed = 1; else there[$0] = 1; next }
  $1 != "ok" { next }
  ("sha256-" $2) in there { print $2, "stored"; next }
  { print "sha256-" $2 " is missing from " dir " after it was moved there" > "/dev/stderr"; exit 1 }' || exit 1
[ "$cut" = 0 ] || { echo "the archive of small blobs ended early; the blobs that arrived whole are kept" >&2; exit 1; }
