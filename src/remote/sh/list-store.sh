# list-store.sh PATH GRACE STALE: what the destination holds, for list, rm, gc and sync; reads only.
#   PATH   the remote path: a models dir, or an Ollama home holding models/ (nothing is created)
#   GRACE  minutes after which a blob no manifest references counts as old (Ollama's prune grace period)
#   STALE  minutes without a heartbeat after which a lock no longer counts as live
# answers, one per line:
#   layout missing|home|models               (missing: no store there; nothing else follows)
#   manifest <host>/<namespace>/<model>/<tag> <mtime>|-   a file Ollama lists; the next line is its bytes in hex
#   odd link|name|notfile <path>             under manifests/, not read: a link (never followed), a name with
#                                            characters no model name has (shown as ?), or no regular file
#   blob <hex> <type> <size> <old>           each sha256-<hex> in blobs/ (type as blob_table); old: 1 or 0
#   staging <name> <KiB> <live> <owner>|-    each sha256-<hex>, lock and temp file of .ollama-push; live: 1
#                                            when a lock held by <owner> had a heartbeat within STALE minutes
#   staged <KiB>                             the disk space .ollama-push takes
# Nothing is followed: every directory is entered with enter_dir, and a link is reported, not read.
given=$1; grace=$2; stale=$3
[ -d "$given" ] || { echo "layout missing"; exit 0; }
if [ -d "$given/models" ] || [ -f "$given/id_ed25519" ]; then layout=home; else layout=models; fi
cd -P -- "$given" || exit 1
if [ "$layout" = home ] && ! enter_dir models; then echo "layout missing"; exit 0; fi
echo "layout $layout"

# mtime FILE: seconds since the epoch (GNU and busybox stat -c, BSD stat -f), or -.
mtime() { stat -c %Y -- "$1" 2>/dev/null || stat -f %m -- "$1" 2>/dev/null || echo -; }

# walk DEPTH PREFIX (cwd: a directory under manifests/): the files Ollama's glob manifests/*/*/*/* finds.
walk() {
  for e in * .[!.]* ..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    case $e in *[!A-Za-z0-9_.:-]*) echo "odd name $2$(printf %s "$e" | tr -c 'A-Za-z0-9_.:-' '?')"; continue ;; esac
    if [ -L "$e" ]; then echo "odd link $2$e"; continue; fi
    if [ "$1" -lt 4 ]; then
      # A file above the tag level is not matched by the glob: not a model, and not odd either.
      [ -d "$e" ] || continue
      (enter_dir "$e" && walk $(($1 + 1)) "$2$e/") || exit $?
    elif [ -f "$e" ]; then
      echo "manifest $2$e $(mtime "$e")"
      od -An -v -tx1 < "$e" | tr -d ' \n'
      echo
    else
      echo "odd notfile $2$e"
    fi
  done
}
if has_dir manifests; then (enter_dir manifests && walk 1 "") || exit $?; fi

if has_dir blobs; then
  old=$( (enter_dir blobs && find . ! -name . -prune -type f -name 'sha256-*' -mmin +"$grace") ) || exit $?
  { printf '%s\n' "$old"; echo /; blob_table; } | awk '
    !listed { if ($0 == "/") listed = 1; else if ($0 ~ /^\.\/sha256-[0-9a-f]+$/) old[substr($0, 10)] = 1; next }
    { print "blob", $1, $2, $3, (($1 in old) ? 1 : 0) }'
fi

has_dir .ollama-push || exit 0
enter_dir .ollama-push
# Another user's staging is not read further (push refuses it too); its size is still told.
if [ -O . ]; then
  ls -a | while read -r e; do
    case $e in
      *[!A-Za-z0-9._-]* | . | ..) continue ;;
      sha256-*.lock) lock=$e ;;
      sha256-* | prune.*) lock=$e.lock ;;
      *) lock= ;;
    esac
    [ -L "$e" ] && continue
    owner=-
    live=0
    if [ -n "$lock" ] && [ -d "$lock" ] && [ ! -L "$lock" ]; then
      [ -f "$lock/owner" ] && [ ! -L "$lock/owner" ] && owner=$(head -c 200 "$lock/owner" | head -n 1)
      [ -n "$(find "$lock" -prune -mmin -"$stale" 2>/dev/null)" ] && live=1
    fi
    case $e in prune.*)
      # A removal in progress: its owner file is its heartbeat.
      if [ -f "$e/owner" ] && [ ! -L "$e/owner" ]; then
        owner=$(head -c 200 "$e/owner" | head -n 1)
        [ -n "$(find "$e/owner" -prune -mmin -"$stale" 2>/dev/null)" ] && live=1
      fi ;;
    esac
    echo "staging $e $(du -sk -- "$e" 2>/dev/null | awk '{print $1}') $live ${owner:--}"
  done
fi
echo "staged $(du -sk . 2>/dev/null | awk '{print $1}')"
