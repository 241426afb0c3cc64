# range-writer.sh PATH LAYOUT OWNER STALE PIECE: a long-lived writer, one per channel, so a range costs no new
# command (no login shell, no round trip to open a channel).
#   OWNER  this run (`<host> <pid> <run id>`), written into the locks it takes
#   STALE  minutes without a heartbeat after which another run's lock is taken over
#   PIECE  bytes between end marks (a multiple of 1 MiB)
# stdin: requests, one after another: a line `<hex> <size> <start> <length> [<dead owner>]`, then the
# <length> bytes to write at <start> of the blob's staged data, in pieces of PIECE bytes (the last one
# shorter; one empty piece for an empty range), each followed by the line OPUSHEND (read by sh's read: no process). Each piece is marked done as it lands, so a run cut
# short loses at most one piece per writer; the whole range's marker replaces the pieces' at its end.
# answers each request with one line: written, stored (the blob is complete: nothing needed), short (the data ended early;
# the writer exits), or busy <owner> (another run holds the blob's lock).
given=$1; layout=$2; me=$3; stale=$4; piece=$5
enter_store "$given" "$layout" || exit 1
has_dir blobs || true
enter_staging
exact_dd && exact_dd=1
while read -r h size start len dead; do
  pieces=$(((len + piece - 1) / piece)); [ "$pieces" -gt 0 ] || pieces=1
  if blob_stored "$h" "$size"; then
    take_bytes $((len + 9 * pieces)) > /dev/null
    echo stored
    continue
  fi
  take_lock "$h" || { take_bytes $((len + 9 * pieces)) > /dev/null; continue; }
  # The lock's heartbeat while a long range arrives (a slow link, --bwlimit): others take it after $stale minutes.
  # It runs from / so that a sleep left behind never holds the store's filesystem busy.
  (lock=$PWD/sha256-$h.lock; cd / && while kill -0 $$ 2>/dev/null; do touch -c "$lock"; sleep 20; done) </dev/null >/dev/null 2>&1 &
  beat=$!
  d=sha256-$h
  (enter_blob_staging "$h") || { kill $beat; exit 1; }
  at=$start; end=$((start + len))
  while :; do
    n=$((end - at)); [ "$n" -le "$piece" ] || n=$piece
    # One process per piece where dd counts bytes: the substitution's subshell execs dd itself, which
    # writes straight into the staged file (the staging is ours alone). Its messages are kept for an error.
    if [ "$exact_dd" = 1 ]; then
      err=$(dd of="$d/data" bs=65536 seek=$((at / 65536)) conv=notrunc iflag=fullblock,count_bytes count="$n" 2>&1 >/dev/null)
    else
      err=$(head -c "$n" | dd of="$d/data" bs=1048576 seek=$((at / 1048576)) conv=notrunc 2>&1 >/dev/null)
    fi || { kill $beat; printf '%s\n' "$err" >&2; exit 1; }
    IFS= read -r mark || mark=
    [ "$mark" = OPUSHEND ] || { kill $beat; echo short; exit 0; }
    [ "$n" = 0 ] || : > "$d/done.$at-$((at + n))" || { kill $beat; exit 1; }
    at=$((at + n))
    [ "$at" -lt "$end" ] || break
  done
  kill $beat
  # -c: hash-follow may have stored the blob (and dropped its lock) as soon as the marker appeared.
  : > "$d/done.$start-$end" && touch -c "sha256-$h.lock" || exit 1
  set --
  at=$start
  while [ "$at" -lt "$end" ]; do
    n=$((end - at)); [ "$n" -le "$piece" ] || n=$piece
    [ "$at-$((at + n))" = "$start-$end" ] || set -- "$@" "$d/done.$at-$((at + n))"
    at=$((at + n))
  done
  [ "$#" = 0 ] || rm -f "$@"
  echo written
done
