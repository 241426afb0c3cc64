# publish-manifest.sh PATH LAYOUT CHOWN HOST NAMESPACE MODEL TAG: publishes a model in one step: moves
# its blobs that wait verified in the staging into blobs/ (with a fresh mtime), then writes its manifest,
# last, and only while every blob it references is published. Until then nothing of the model is in
# blobs/ unreferenced, which Ollama would prune. A name already there in another case is reused.
#   CHOWN  USER[:GROUP] to give the manifest and the directories made for it, or empty
# stdin: lines `<hex> <size>` of the manifest's blobs, a line `.`, then the manifest's bytes.
# answers: published, unchanged (the same bytes were there), or missing <hex> (nothing written, or a blob
# went missing after it was written).
given=$1; layout=$2; co=$3; tag=$7
enter_store "$given" "$layout" || exit 1
models=$PWD
enter_staging
st=$PWD
list=$(mktemp manifest.list.XXXXXXXXXX) || exit 1
# prune.sh waits for manifest.<random> files: this one must exist from before the first check to the rename
# (gc removes the other manifest.* temp files a day old).
manifest=$(mktemp manifest.XXXXXXXXXX) || { rm -f "$list"; exit 1; }
input=$(mktemp manifest.in.XXXXXXXXXX) || { rm -f "$list" "$manifest"; exit 1; }
trap 'rm -f "$st/$list" "$st/$manifest" "$st/$input"' EXIT
# Split by line number, not with sh's read, which takes a pipe a byte at a time (a tensor model lists thousands).
cat > "$input" || exit 1
dot=$(awk '$0 == "." { print NR; exit }' "$input")
[ -n "$dot" ] || { echo "the list of the manifest's blobs has no end line" >&2; exit 1; }
head -n $((dot - 1)) "$input" > "$list" && tail -n +$((dot + 1)) "$input" > "$manifest" && chmod 644 "$manifest" || exit 1
[ -z "$co" ] || chown -h "$co" "$manifest" || exit 1

# check DIR: every blob of the list is published in DIR, the models dir, reached from here with cd -P up
# the directories entered (never by its path, which the store's owner could point elsewhere meanwhile).
check() {
  r=$(cd -P -- "$1" && missing_blobs < "$st/$list") || exit 1
  case $r in
    unsafe*) unsafe "$models/blobs/sha256-${r#unsafe } is not a regular file (a link or a directory where a blob belongs): remove it" ;;
    missing*) echo "$r"; exit 0 ;;
  esac
}

# The model's blobs in verified/ (ours: nobody else writes in the staging) go into blobs/. Another
# publisher sharing a blob may move it first: the check then finds it in blobs/.
if has_dir verified; then
  waiting=$(cd verified && { ls -a; echo /; cat "../$list"; } | awk '
    !listed { if ($0 == "/") listed = 1; else there[$0] = 1; next }
    ("sha256-" $1) in there { print "sha256-" $1 }') || exit 1
  if [ -n "$waiting" ]; then
    (cd verified && printf '%s\n' "$waiting" | xargs touch -c) || exit 1
    (cd -P .. && enter_dir blobs create && { [ -z "$co" ] || chown -h "$co" . || exit 1; } && printf '%s\n' "$waiting" | move_verified_here) || exit $?
  fi
  # Nothing waiting: the staging is empty again after a push (one still running makes it anew).
  rmdir verified 2>/dev/null || :
fi
cd -P .. || exit 1
check .
root=$PWD
name=$tag
attempt=1
while :; do
  # Below a directory made just now there is no name in another case to reuse: no listing to read.
  made=
  for part in manifests "$4" "$5" "$6"; do
    [ -n "$made" ] || part=$(existing_name "$part")
    [ -e "$part" ] || [ -L "$part" ] || made=1
    enter_dir "$part" create
    [ -z "$co" ] || chown -h "$co" . || exit 1
  done
  if [ -n "$made" ]; then tag=$name; else tag=$(existing_name "$name"); fi
  if [ -f "$tag" ] && [ ! -L "$tag" ] && cmp -s "$st/$manifest" "$tag"; then echo unchanged; exit 0; fi
  if err=$(mv_nofollow "$st/$manifest" "$tag" 2>&1); then break; else status=$?; fi
  # An rm of the model's last tag removes the directories it leaves empty, as Ollama does: one removed
  # between entering it and the rename is made again (twice at most). Any other failure is said.
  if [ "$status" != 1 ] || [ "$attempt" = 3 ] || [ -d "$PWD" ] || [ ! -f "$st/$manifest" ]; then
    printf '%s\n' "$err" >&2
    exit "$status"
  fi
  attempt=$((attempt + 1))
  cd -P -- "$root" || exit 1
done
check ../../../..
echo published
