# hash-published.sh PATH LAYOUT HASHER DROP: the sha256 of published blobs, for --verify.
#   HASHER  openssl, sha256sum or shasum
#   DROP    1 to remove each blob whose sha256 is not its name, so that a push sends it again
# stdin: lines `<hex>`.
# answers one line per blob: `<hex> <sha256>`, or `<hex> -` when it is not there.
given=$1; layout=$2; hasher=$3; drop=$4
enter_store "$given" "$layout" || exit 1
words=$(hasher_words) || exit 1
# shellcheck disable=SC2086 # the command's words
set -- $words
# One line per wanted blob, from one ls of blobs/ (a per-tensor model names thousands, and sh's read
# takes a pipe a byte at a time): `- <hex>` when it is not there, `<size> <hex>` for a file, `unsafe
# <hex>` for anything else at its name.
published=1
has_dir blobs || published=0
wanted=$({ [ "$published" = 0 ] || blob_table; echo /; cat; } | awk '
  !listed { if ($0 == "/") listed = 1; else { type[$1] = $2; size[$1] = $3 }; next }
  NF < 1 { next }
  type[$1] == "" { print "-", $1; next }
  type[$1] != "-" { print "unsafe", $1; exit }
  { print size[$1], $1 }') || exit 1
bad=$(printf '%s\n' "$wanted" | awk '$1 == "unsafe" { print $2 }')
[ -z "$bad" ] || unsafe "$PWD/blobs/sha256-$bad is not a regular file (a link or a directory where a blob belongs): remove it"
printf '%s\n' "$wanted" | awk '$1 == "-" { print $2, "-" }'
[ -n "$(printf '%s\n' "$wanted" | awk '$1 != "-"')" ] || exit 0
enter_dir blobs
# Files of up to 4 MiB go to the hasher 16 at a time (their names are sha256-<hex>: blob_table takes no
# other), so that answers come at least every 64 MiB; a larger one alone through read_range, whose empty
# lines on stderr keep the client's stall watchdog fed. A file gone since the ls has no sum: it is not
# there (a large one is looked for again after its hash: dd reads nothing of a name that is gone, and the
# sum of nothing would say the blob is corrupt).
small=$(printf '%s\n' "$wanted" | awk '$1 != "-" && $1 <= 4194304 { print "sha256-" $2 }')
large=$(printf '%s\n' "$wanted" | awk '$1 != "-" && $1 > 4194304 { print $1, $2 }')
{
  [ -z "$small" ] || printf '%s\n' "$small" | xargs -n 16 "$@" 2>/dev/null
  [ -z "$large" ] || printf '%s\n' "$large" | while read -r size h; do
    sum=$(sha256_file "sha256-$h" "$size") && [ -f "sha256-$h" ] && echo "$sum sha256-$h"
  done
  echo /
  printf '%s\n' "$wanted"
} | awk -v drop="$drop" '
  !listed {
    if ($0 == "/") { listed = 1; next }
    name = $NF; sub(/^\*/, "", name); h = substr(name, 8)
    if (drop == 1 && $1 != h && system("rm -f -- sha256-" h) != 0) exit 1
    print h, $1; fflush(); answered[h] = 1; next
  }
  $1 != "-" && !($2 in answered) { print $2, "-" }' || exit 1
# The hasher opened the files by name after the ls: one replaced by a link or a directory meanwhile may
# have been read through; refused.
cd -P .. || exit 1
changed=$({ blob_table; echo /; printf '%s\n' "$wanted"; } | awk '
  !listed { if ($0 == "/") listed = 1; else type[$1] = $2; next }
  $1 != "-" && type[$2] != "" && type[$2] != "-" { print $2; exit }')
[ -z "$changed" ] || unsafe "$PWD/blobs/sha256-$changed is not a regular file (a link or a directory where a blob belongs): remove it"
