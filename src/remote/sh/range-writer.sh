# range-writer.sh PATH LAYOUT OWNER STALE: a long-lived writer, one per channel, so a range costs no new
# command (no login shell, no round trip to open a channel).
#   OWNER  this run (`<host> <pid> <run id>`), written into the locks it takes
#   STALE  minutes without a heartbeat after which another run's lock is taken over
# stdin: requests, one after another: a line `<hex> <size> <start> <length> [<dead owner>]`, then exactly
# <length> bytes (written at <start> of the blob's staged data), then the 8 bytes OPUSHEND.
# answers each request with one line: written, published (nothing needed), short (the data ended early;
# the writer exits), or busy <owner> (another run holds the blob's lock).
given=$1; layout=$2; me=$3; stale=$4
enter_store "$given" "$layout" || exit 1
has_dir blobs || true
enter_staging
exact_dd && exact_dd=1
while read -r h size start len dead; do
  if blob_published "$h" "$size"; then
    take_bytes $((len + 8)) > /dev/null
    echo published
    continue
  fi
  take_lock "$h" || { take_bytes $((len + 8)) > /dev/null; continue; }
  # The lock's heartbeat while a long range arrives (a slow link, --bwlimit): others take it after $stale minutes.
  # It runs from / so that a sleep left behind never holds the store's filesystem busy.
  (lock=$PWD/sha256-$h.lock; cd / && while kill -0 $$ 2>/dev/null; do touch -c "$lock"; sleep 20; done) </dev/null >/dev/null 2>&1 &
  beat=$!
  err=$(
    enter_blob_staging "$h"
    if [ "$exact_dd" = 1 ]; then
      dd of=data bs=1048576 seek=$((start / 1048576)) conv=notrunc iflag=fullblock,count_bytes count="$len" 2>&1 >/dev/null
    else
      head -c "$len" | dd of=data bs=1048576 seek=$((start / 1048576)) conv=notrunc 2>&1 >/dev/null
    fi
  ) || { kill $beat; printf '%s\n' "$err" >&2; exit 1; }
  kill $beat
  [ "$(take_bytes 8)" = OPUSHEND ] || { echo short; exit 0; }
  : > "sha256-$h/done.$start-$((start + len))" && touch "sha256-$h.lock" || exit 1
  echo written
done
