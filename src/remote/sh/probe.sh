# probe.sh PATH CREATE: what the destination has, in one round trip.
#   PATH    the remote path: a models dir, or an Ollama home holding models/
#   CREATE  1 to create PATH when it is missing
# stdin: lines `manifest <host>/<namespace>/<model>/<tag>`, then a line `.`, then lines `<hex>` of blobs.
# answers, one per line:
#   layout missing|home|models        (missing: PATH does not exist; nothing else follows)
#   physical <hex>                    PATH resolved physically (cd -P), its bytes in hex
#   tool <name>                       for each of openssl sha256sum shasum xxhsum found
#   free <KiB>                        free space on PATH's filesystem
#   manifest <i> <sha256>|-           for the i-th manifest asked about (from 0): the file's sha256, or none
#   blob <hex> <size>|- [ranges]      a published blob's size, and ranges staged by earlier runs
#   stored <hex> <size>               a blob not published but verified in the staging, waiting for a
#                                     manifest to move it into blobs/ (publish-manifest.sh)
#   lock <hex> <owner>                the run holding a blob's lock
# exit 3 when something in the store is not what it must be (a link, a file where a directory belongs).
given=$1; create=$2
if [ ! -d "$given" ]; then
  [ "$create" = 1 ] || { echo "layout missing"; exit 0; }
  mkdir -p -- "$given" || exit 1
fi
if [ -d "$given/models" ] || [ -f "$given/id_ed25519" ]; then layout=home; else layout=models; fi
cd -P -- "$given" || exit 1
echo "layout $layout"
echo "physical $(printf %s "$PWD" | od -An -v -tx1 | tr -d ' \n')"
for t in openssl sha256sum shasum xxhsum; do command -v "$t" >/dev/null 2>&1 && echo "tool $t"; done
echo "free $(df -Pk . 2>/dev/null | awk 'NR==2 {print $4}')"
hasher=none
# The last one found wins: openssl (fastest) before sha256sum before shasum, as the client picks.
for t in shasum sha256sum openssl; do command -v "$t" >/dev/null 2>&1 && hasher=$t; done
[ "$create" = 1 ] && create=create || create=
if [ "$layout" = home ] && ! enter_dir models "$create"; then
  # An Ollama home without models/ yet: nothing is there.
  i=0
  while read -r kind arg && [ "$kind" != . ]; do echo "manifest $i -"; i=$((i + 1)); done
  while read -r h; do echo "blob $h -"; done
  exit 0
fi
models=$PWD
has_dir blobs || true
has_dir manifests || true
has_staging=0
has_dir .ollama-push && has_staging=1

# manifest_sum PATH: the sha256 of manifests/PATH, every component a real directory and the tag a file;
# a name on disk in another case counts (Ollama matches names ignoring case).
manifest_sum() (
  enter_dir manifests || exit 0
  rest=$1
  while [ "${rest#*/}" != "$rest" ]; do
    enter_dir "$(existing_name "${rest%%/*}")" || exit 0
    rest=${rest#*/}
  done
  rest=$(existing_name "$rest")
  if [ -L "$rest" ] || { [ -e "$rest" ] && [ ! -f "$rest" ]; }; then unsafe "$PWD/$rest is not a regular file where a manifest belongs: remove it"; fi
  [ -f "$rest" ] || exit 0
  sha256_of < "$rest" 2>/dev/null
)

i=0
while read -r kind arg && [ "$kind" != . ]; do
  sum=$(manifest_sum "$arg") || exit $?
  echo "manifest $i ${sum:--}"
  i=$((i + 1))
done

# One listing of blobs/, of the staging and of its verified/ for all blobs asked about, then a look inside
# the staged ones.
staged=; verified=
if [ "$has_staging" = 1 ]; then
  staged=$(ls -a .ollama-push)
  verified=$(cd .ollama-push && { ! has_dir verified || LC_ALL=C ls -ln verified; }) || exit $?
fi
# "/" separates the four inputs: no file is named that. awk answers for every blob but the staged
# ones, which the loop below looks into: sh's read takes a pipe a byte at a time, too slow for
# thousands of lines.
answers=$({ blob_table; echo /; printf '%s\n' "$staged"; echo /; printf '%s\n' "$verified"; echo /; cat; } | awk '
  part == 0 { if ($0 == "/") part = 1; else { type[$1] = $2; size[$1] = $3 }; next }
  part == 1 { if ($0 == "/") part = 2; else if ($0 ~ /^sha256-[0-9a-f]+(\.lock)?$/) there[substr($0, 8)] = 1; next }
  part == 2 { if ($0 == "/") part = 3; else if (substr($1, 1, 1) == "-" && NF == 9 && $9 ~ /^sha256-[0-9a-f]+$/) ok[substr($9, 8)] = $5; next }
  $1 !~ /^[0-9a-f]+$/ { next }
  type[$1] != "" && type[$1] != "-" { print "unsafe", $1; exit }
  type[$1] != "-" && ($1 in ok) { print "stored", $1, ok[$1]; next }
  (($1 in there) || (($1 ".lock") in there)) { print "staged", $1, (type[$1] == "-" ? size[$1] : "-"); next }
  { print "blob", $1, (type[$1] == "-" ? size[$1] : "-") }')
case $answers in
  unsafe* | *"
unsafe "*) h=${answers##*unsafe }; unsafe "$models/blobs/sha256-$h is not a regular file (a link or a directory where a blob belongs): remove it" ;;
esac
printf '%s\n' "$answers" | grep -v '^staged '
printf '%s\n' "$answers" | grep '^staged ' |
while read -r _ h size; do
  d=.ollama-push/sha256-$h
  ranges=
  if [ -d "$d" ] && [ ! -L "$d" ]; then ranges=$(cd "$d" && for m in done.*; do [ -f "$m" ] && printf '%s ' "${m#done.}"; done); fi
  echo "blob $h $size $ranges"
  if owner=$(cat "$d.lock/owner" 2>/dev/null); then echo "lock $h $owner"; fi
done
