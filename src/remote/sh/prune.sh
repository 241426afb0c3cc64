# prune.sh PATH ME STALE DRY: removes models, the blobs no manifest references any more, and abandoned
# staging, without ever leaving a manifest whose blob is gone (rm, gc, sync --delete).
#   PATH   the remote path: a models dir, or an Ollama home holding models/ (nothing is created there)
#   ME     this run (`<host> <pid> <run id>`), written into the blob locks it takes
#   STALE  minutes without a heartbeat after which a lock is abandoned (as take_lock judges it)
#   DRY    1: remove nothing, answer what would go
# stdin, read whole before anything is done:
#   dead <owner>        a lock owner the client found dead (a run of its machine that is gone)
#   model <host>/<namespace>/<model>/<tag>   a manifest to remove; then its blobs that no other manifest
#                       references go too (as `ollama rm`)
#   orphans <minutes>   also every blob no manifest references that is older than <minutes> (gc)
#   staging             also abandoned staging: blobs under no live lock, temp files older than a day,
#                       verified blobs whose manifest never came, older than <minutes> (or 60)
#   .
# answers, one per line:
#   layout missing|home|models
#   model <path> removed|would|absent
#   staging <name> <KiB> removed|would|live
#   recovered <hex>     a blob an interrupted removal had taken aside, put back into blobs/
#   blob <hex> <size> removed|would|used|held|young|restored
#     used: another manifest references it; held: a push holds its lock or has it staged; young: an
#     orphan newer than <minutes>; restored: a manifest that references it was published meanwhile.
#
# How a blob goes, so that a push publishing a manifest at the same time never loses it: under the
# blob's lock (pushes wait for it), the blob is renamed from blobs/ into a private dir of the staging
# (so a publisher checking its blobs from now on finds it missing and writes nothing); then the removal
# waits for every manifest being published (publish-manifest's temp files in the staging) to land, reads
# the manifests again, and puts back each blob one now references; only the others are deleted.
given=$1; me=$2; stale=$3; dry=$4
nl='
'
deads=$nl; models=; orphans=; staging=0
while read -r kind arg; do
  case $kind in
    .) break ;;
    dead) deads=$deads$arg$nl ;;
    model) models=$models$arg$nl ;;
    orphans) case $arg in '' | *[!0-9]*) echo "orphans wants minutes" >&2; exit 1 ;; esac; orphans=$arg ;;
    staging) staging=1 ;;
  esac
done

[ -d "$given" ] || { echo "layout missing"; exit 0; }
if [ -d "$given/models" ] || [ -f "$given/id_ed25519" ]; then layout=home; else layout=models; fi
cd -P -- "$given" || exit 1
if [ "$layout" = home ] && ! enter_dir models; then echo "layout missing"; exit 0; fi
echo "layout $layout"

# digests FILE...: the hex of every sha256:<hex> (or sha256-<hex>, any case) in the files: a superset of
# what a manifest references, so that an odd manifest keeps more, never less.
digests() {
  awk '{
    line = tolower($0)
    while ((i = index(line, "sha256")) > 0) {
      c = substr(line, i + 6, 1); h = substr(line, i + 7, 64); line = substr(line, i + 6)
      if ((c == ":" || c == "-") && length(h) == 64 && h !~ /[^0-9a-f]/) print h
    }
  }' "$@"
}

# scan DEPTH PREFIX (cwd: a directory under manifests/): digests of the files at manifests/*/*/*/*, the
# models being removed left out while $exclude is 1. A link is refused: it could lead to a manifest.
scan() {
  for e in * .[!.]* ..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    if [ -L "$e" ]; then unsafe "$PWD/$e is a symbolic link; ollama-push never follows links in the store, so it cannot tell which blobs that model uses: remove it"; fi
    if [ "$1" -lt 4 ]; then
      [ -d "$e" ] || continue
      (enter_dir "$e" && scan $(($1 + 1)) "$2$e/") || exit $?
    elif [ -f "$e" ]; then
      if [ "$exclude" = 1 ]; then case $nl$models in *"$nl$2$e$nl"*) continue ;; esac; fi
      digests "./$e" || exit 1
    fi
  done
}

# refs (cwd: the models dir): the digests every manifest mentions.
refs() {
  has_dir manifests || return 0
  (enter_dir manifests && scan 1 "") || exit $?
}


# in_model PATH CMD... (cwd: the models dir): runs CMD TAG in the model directory of PATH (h/ns/m/t),
# entered one name at a time; 1 when it is not there.
in_model() (
  p=$1; shift
  case $p in */*/*/*/* | *//* | /* | */) exit 1 ;; */*/*/*) ;; *) exit 1 ;; esac
  enter_dir manifests || exit 1
  for part in "${p%%/*}" "$(echo "$p" | cut -d/ -f2)" "$(echo "$p" | cut -d/ -f3)"; do
    case $part in . | ..) exit 1 ;; esac
    enter_dir "$part" || exit 1
  done
  tag=${p##*/}
  case $tag in . | ..) exit 1 ;; esac
  if [ -L "$tag" ] || { [ -e "$tag" ] && [ ! -f "$tag" ]; }; then unsafe "$PWD/$tag is not a regular file where a manifest belongs: remove it"; fi
  [ -f "$tag" ] || exit 1
  "$@" "$tag"
)
digests_of_tag() { digests "./$1" || exit 2; }
# drop_manifest TAG (cwd: its model dir): removes it, then the directories it leaves empty (as Ollama).
drop_manifest() {
  rm -f -- "$1" || exit 2
  for _ in model namespace host; do
    d=${PWD##*/}
    cd -P .. || exit 2
    rmdir -- "$d" 2>/dev/null || break
  done
}
# each_model CMD ANSWER: CMD for each model to remove; `model <path> ANSWER`, or absent.
each_model() {
  printf %s "$models" | while read -r m; do
    if in_model "$m" "$1"; then
      [ -z "$2" ] || echo "model $m $2"
    else
      s=$?
      [ "$s" = 1 ] || exit "$s"
      [ -z "$2" ] || echo "model $m absent"
    fi
  done
}

# The blobs of the models to remove, read before they go; and what every other manifest references
# (which also refuses a link under manifests/ before anything is removed).
candidates=
[ -z "$models" ] || candidates=$(each_model digests_of_tag '') || exit $?
exclude=1
referenced=$(refs) || exit $?
exclude=0

nl_list() { printf '%s\n' "$1"; }
# is_dead OWNER: the client found OWNER's run gone.
is_dead() { case $deads in *"$nl$1$nl"*) return 0 ;; esac; return 1; }
owner_of() { head -c 200 "$1/owner" 2>/dev/null | head -n 1; }
# lock_live NAME (cwd: staging): a lock whose owner is not dead and whose heartbeat is recent.
lock_live() {
  { [ -d "$1" ] && [ ! -L "$1" ]; } || return 1
  o=$(owner_of "$1")
  if [ -n "$o" ] && is_dead "$o"; then return 1; fi
  [ -n "$(find "$1" -prune -mmin -"$stale" 2>/dev/null)" ]
}
# take HEX (cwd: staging): the blob's lock (take_lock), a dead owner's taken over at once.
take() {
  dead=$(owner_of "sha256-$1.lock")
  is_dead "$dead" || dead=
  take_lock "$1" > /dev/null
}
# release HEX (cwd: staging): drops the blob's lock if it is still this run's.
release() { [ "$(owner_of "sha256-$1.lock")" != "$me" ] || rm -rf -- "sha256-$1.lock"; }

has_staging=0
has_dir .ollama-push && has_staging=1

# Removals an interrupted run left (prune.*, owner dead or without heartbeat): their blobs go back into
# blobs/ first; whatever no manifest references is then an orphan like any other.
if [ "$has_staging" = 1 ] && [ "$dry" != 1 ]; then
  (
    enter_staging
    for t in prune.*; do
      { [ -d "$t" ] && [ ! -L "$t" ]; } || continue
      o=$(owner_of "$t")
      if ! is_dead "$o" && [ -n "$(find "$t/owner" -prune -mmin -"$stale" 2>/dev/null)" ]; then continue; fi
      for f in "$t"/sha256-*; do
        { [ -f "$f" ] && [ ! -L "$f" ]; } || continue
        h=${f##*/sha256-}
        (cd -P .. && enter_dir blobs create && mv_nofollow "../.ollama-push/$f" "sha256-$h") || exit $?
        echo "recovered $h"
        [ -z "$o" ] || [ "$(owner_of "sha256-$h.lock")" != "$o" ] || rm -rf -- "sha256-$h.lock"
      done
      rm -f -- "$t/owner" "$t/list" "$t/refs"
      rmdir -- "$t" 2>/dev/null || true
    done
  ) || exit $?
fi

# Abandoned staging: a blob's data under no live lock (the lock taken first, so that no push starts on
# it meanwhile), and temp files of runs long gone.
gone_staging=$nl
if [ "$staging" = 1 ] && [ "$has_staging" = 1 ]; then
  out=$(
    if [ "$dry" = 1 ]; then enter_dir .ollama-push && [ -O . ] || exit 0; else enter_staging; fi
    ls -a | awk '/^sha256-[0-9a-f]+(\.lock)?$/ { sub(/^sha256-/, ""); sub(/\.lock$/, ""); if (!seen[$0]++) print }' |
      while read -r h; do
        kib=$(du -sk -- "sha256-$h" "sha256-$h.lock" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
        if lock_live "sha256-$h.lock"; then echo "staging sha256-$h $kib live"; continue; fi
        if [ "$dry" = 1 ]; then echo "staging sha256-$h $kib would"; continue; fi
        if take "$h"; then
          rm -rf -- "sha256-$h" "sha256-$h.lock"
          echo "staging sha256-$h $kib removed"
        else
          echo "staging sha256-$h $kib live"
        fi
      done
    # Temp files (a manifest or a small blob being written, a lock being taken over) live seconds.
    for e in manifest.* small.* sha256-*.lock.*; do
      { [ -e "$e" ] || [ -L "$e" ]; } || continue
      [ -n "$(find "$e" -prune -mmin +1440 2>/dev/null)" ] || continue
      kib=$(du -sk -- "$e" 2>/dev/null | awk '{ print $1 + 0 }')
      if [ "$dry" = 1 ]; then echo "staging $e $kib would"; else rm -rf -- "$e" && echo "staging $e $kib removed"; fi
    done
    # Verified blobs wait for their manifest (publish-manifest.sh); a push stopped before it left them.
    if has_dir verified; then
      (enter_dir verified && find . ! -name . -prune -type f -name 'sha256-*' -mmin +"${orphans:-60}") | while read -r f; do
        e=verified/${f#./}
        kib=$(du -sk -- "$e" 2>/dev/null | awk '{ print $1 + 0 }')
        if [ "$dry" = 1 ]; then echo "staging $e $kib would"; else rm -f -- "$e" && echo "staging $e $kib removed"; fi
      done
    fi
  ) || exit $?
  [ -z "$out" ] || nl_list "$out"
  gone_staging=$nl$(nl_list "$out" | awk '$4 == "would" || $4 == "removed" { print $2; if ($2 ~ /^sha256-[0-9a-f]+$/) print $2 ".lock" }')$nl
fi

# What goes: the candidates (and for gc every unreferenced blob older than <minutes>) that no manifest
# references and no push holds or stages.
staged_names() {
  [ "$has_staging" = 1 ] || return 0
  ls -a .ollama-push | while read -r e; do case $gone_staging in *"$nl$e$nl"*) ;; *) nl_list "$e" ;; esac; done
}
old_blobs() {
  [ -n "$orphans" ] && has_dir blobs || return 0
  (enter_dir blobs && find . ! -name . -prune -type f -name 'sha256-*' -mmin +"$orphans")
}
# Then the manifests go (each_model reports them).
if [ -n "$models" ]; then
  if [ "$dry" = 1 ]; then each_model true would || exit $?; else each_model drop_manifest removed || exit $?; fi
fi

plan=$(
  { nl_list "$referenced"; echo /; blob_table; echo /; old_blobs; echo /; staged_names; echo /; nl_list "$candidates"; } | awk -v orphans="$orphans" '
    function consider(h) {
      if (type[h] != "-" || (h in seen)) return
      seen[h] = 1
      if (h in ref) print "used", h, size[h]
      else if (h in held) print "held", h, size[h]
      else if (orphans != "" && !(h in cand) && !(h in old)) print "young", h, size[h]
      else print "go", h, size[h]
    }
    part == 0 { if ($0 == "/") part = 1; else ref[$1] = 1; next }
    part == 1 { if ($0 == "/") part = 2; else { type[$1] = $2; size[$1] = $3 }; next }
    part == 2 { if ($0 == "/") part = 3; else if ($0 ~ /^\.\/sha256-[0-9a-f]+$/) old[substr($0, 10)] = 1; next }
    part == 3 { if ($0 == "/") part = 4; else if ($0 ~ /^sha256-[0-9a-f]+(\.lock)?$/) { h = substr($0, 8); sub(/\.lock$/, "", h); held[h] = 1 }; next }
    $1 != "" { cand[$1] = 1 }
    END {
      for (h in cand) consider(h)
      if (orphans != "") for (h in type) if (!(h in ref)) consider(h)
    }'
) || exit $?
nl_list "$plan" | awk 'NF == 3 && $1 != "go" { print "blob", $2, $3, $1 }'
go=$(nl_list "$plan" | awk 'NF == 3 && $1 == "go" { print $2, $3 }')
[ -n "$go" ] || exit 0
if [ "$dry" = 1 ]; then
  nl_list "$go" | awk '{ print "blob", $1, $2, "would" }'
  exit 0
fi

enter_staging
trash=$(mktemp -d prune.XXXXXXXX) || exit 1
printf '%s\n' "$me" > "$trash/owner" && : > "$trash/list" || exit 1
# heartbeat: this run's locks and its owner file, so that nobody takes them over as abandoned.
heartbeat() {
  touch -c "$trash/owner"
  while read -r h size; do touch -c "sha256-$h.lock"; done < "$trash/list"
}

# Each blob under its lock, then aside; one a push holds, or began staging meanwhile, stays.
n=0
nl_list "$go" | while read -r h size; do
  n=$((n + 1))
  [ $((n % 50)) != 0 ] || heartbeat
  if ! take "$h"; then echo "blob $h $size held"; continue; fi
  if [ -e "sha256-$h" ] || [ -L "sha256-$h" ]; then release "$h"; echo "blob $h $size held"; continue; fi
  if (
    cd -P .. || exit 1
    enter_dir blobs || exit 4
    { [ -f "sha256-$h" ] && [ ! -L "sha256-$h" ]; } || exit 4
    mv -f -- "sha256-$h" "../.ollama-push/$trash/sha256-$h" || exit 1
  ); then
    echo "$h $size" >> "$trash/list"
  else
    s=$?
    release "$h"
    # Gone meanwhile (another removal, Ollama's prune): nothing to do.
    [ "$s" = 4 ] || exit "$s"
  fi
done || exit $?

# Wait for the manifests being published as the blobs went aside: each publish-manifest temp file then
# in the staging is gone once its manifest is in place (or was refused). One not written to for 2
# minutes belongs to a run that is gone.
pending=$(ls -a | awk '/^manifest\.[A-Za-z0-9]+$/')
waited=0
while [ -n "$pending" ] && [ "$waited" -lt 150 ]; do
  pending=$(nl_list "$pending" | while read -r t; do [ -z "$(find "$t" -prune -mmin -2 2>/dev/null)" ] || echo "$t"; done)
  [ -n "$pending" ] || break
  sleep 1
  waited=$((waited + 1))
  [ $((waited % 20)) != 0 ] || heartbeat
done

# The manifests again: a blob one of them references now goes back; the others are deleted.
heartbeat
(cd -P .. && refs) > "$trash/refs" || exit $?
{ cat "$trash/refs"; echo /; cat "$trash/list"; } | awk '
  !listed { if ($0 == "/") listed = 1; else ref[$1] = 1; next }
  NF == 2 { print (($1 in ref) ? "keep" : "drop"), $1, $2 }' |
  while read -r what h size; do
    if [ "$what" = keep ]; then
      (cd -P .. && enter_dir blobs create && mv_nofollow "../.ollama-push/$trash/sha256-$h" "sha256-$h") || exit $?
      echo "blob $h $size restored"
    else
      rm -f -- "$trash/sha256-$h" || exit 1
      echo "blob $h $size removed"
    fi
    release "$h"
  done || exit $?
rm -f -- "$trash/owner" "$trash/list" "$trash/refs"
rmdir -- "$trash"
