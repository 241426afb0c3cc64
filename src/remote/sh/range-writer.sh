# range-writer.sh PATH LAYOUT OWNER STALE: a long-lived writer, one per channel, so a range costs no new
# command (no login shell, no round trip to open a channel).
#   OWNER  this run (`<host> <pid> <run id>`), written into the locks it takes
#   STALE  minutes without a heartbeat after which another run's lock is taken over
# stdin: requests, one after another: a line `<hex> <size> <start> <length> [<dead owner>]`, then the
# <length> bytes to write at <start> of the blob's staged data, then the line OPUSHEND (read by sh's
# read: no process). One dd writes the whole range; the range is marked done once its end mark is read.
# When the data ends early (the client was killed or its link dropped), the bytes dd copied are marked
# done (down to a whole MiB), so a run cut short loses less than a MiB per writer.
# answers each request with one line: written, stored (the blob is complete: nothing needed), short (the data ended early;
# the writer exits), or busy <owner> (another run holds the blob's lock).
given=$1; layout=$2; me=$3; stale=$4
enter_store "$given" "$layout" || exit 1
has_dir blobs || true
enter_staging
if exact_dd; then exact_dd=1; elif block_dd; then block_dd=1; fi
while read -r h size start len dead; do
  if blob_stored "$h" "$size"; then
    take_bytes $((len + 9)) > /dev/null
    echo stored
    continue
  fi
  take_lock "$h" || { take_bytes $((len + 9)) > /dev/null; continue; }
  # The lock's heartbeat while a long range arrives (a slow link, --bwlimit): others take it after $stale minutes.
  # It runs from /, so that it never holds the store's filesystem busy, and ends its sleep when killed.
  (lock=$PWD/sha256-$h.lock; nap=; trap 'kill $nap 2>/dev/null; exit 0' TERM; cd / && while kill -0 $$ 2>/dev/null; do touch -c "$lock"; sleep 20 & nap=$!; wait $nap; nap=; done) </dev/null >/dev/null 2>&1 &
  beat=$!
  d=sha256-$h
  (enter_blob_staging "$h") || { kill $beat; exit 1; }
  # A marker this range overlaps is of bytes written again (a staged range found damaged): it goes first,
  # so that neither a hash follower nor a later probe takes them for staged meanwhile.
  for m in "$d"/done.*; do
    r=${m##*/done.}
    case $r in *[!0-9-]* | -* | *- | *-*-*) continue ;; *-*) ;; *) continue ;; esac
    [ "${r%-*}" -lt $((start + len)) ] && [ "${r#*-}" -gt "$start" ] && rm -f -- "$m"
  done
  # The substitution's subshell execs dd itself, which writes straight into the staged file (the staging
  # is ours alone). Its messages (in the C locale: they tell the bytes it copied) are kept. head -c is the
  # last resort, where dd can neither count bytes nor fill blocks: on a pipe BSD's reads ahead.
  if [ "$exact_dd" = 1 ]; then
    err=$(LC_ALL=C dd of="$d/data" bs=65536 seek=$((start / 65536)) conv=notrunc iflag=fullblock,count_bytes count="$len" 2>&1 >/dev/null)
  elif [ "${block_dd-}" = 1 ]; then
    err=$(export LC_ALL=C; dd_blocks "$len" $((start / 65536)) of="$d/data" conv=notrunc 2>&1 >/dev/null)
  else
    err=$(head -c "$len" | LC_ALL=C dd of="$d/data" bs=1048576 seek=$((start / 1048576)) conv=notrunc 2>&1 >/dev/null)
  fi || { kill $beat; printf '%s\n' "$err" >&2; exit 1; }
  IFS= read -r mark || mark=
  if [ "$mark" != OPUSHEND ]; then
    kill $beat
    # GNU, busybox and BSD dd each end with a line `<n> bytes ...`: their sum is what was copied.
    copied=0
    while IFS= read -r line; do
      line=${line%% bytes*}
      case $line in '' | *[!0-9]*) ;; *) copied=$((copied + line)) ;; esac
    done <<EOF
$err
EOF
    kept=$((copied / 1048576 * 1048576))
    [ "$kept" = 0 ] || : > "$d/done.$start-$((start + kept))"
    echo short
    exit 0
  fi
  kill $beat
  # -c: hash-follow may have stored the blob (and dropped its lock) as soon as the marker appeared.
  : > "$d/done.$start-$((start + len))" && touch -c "sha256-$h.lock" || exit 1
  echo written
done
