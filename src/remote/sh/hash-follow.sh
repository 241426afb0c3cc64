# hash-follow.sh PATH LAYOUT HEX SIZE OWNER STALE DEAD HASHER CHOWN: hashes a blob while it is being
# staged: each range in order, as soon as its done marker appears, so the sha256 is ready when the last
# range lands; a blob found right is then stored as commit-blob.sh would (no command more to run).
#   OWNER STALE DEAD  as for commit-blob.sh: the blob's lock is this run's
#   HASHER  openssl, sha256sum or shasum
#   CHOWN   USER[:GROUP] to give the file, or empty
# stdin: lines `<start>-<end>` covering the blob in order, then a line `.`.
# fd 3: the warm shell's own stdin (it runs in turn): at its end (the client is gone, or stopped it by
# closing the channel) every process of this program ends.
# answers: stored (verified and moved into verified/), or the sha256 of what it read (anything else: a
# range never finished, the staging gone, the lock another run's) for commit-blob.sh to judge.
given=$1; layout=$2; h=$3; size=$4; me=$5; stale=$6; dead=$7; hasher=$8; co=$9
enter_store "$given" "$layout" || exit 1
enter_staging
enter_blob_staging "$h"
set --
while read -r r && [ "$r" != . ]; do set -- "$@" "$r"; done
# The end of the channel's stdin (the client gone) stops the wait below within one nap, so nothing of
# this program outlives the client.
(cd / && exec cat >/dev/null 2>&1) <&3 &
client=$!
exec 3<&-
# python3's hashlib reads the staged file itself: dd into a pipe to the hasher cost about 0.4 s more CPU
# per 512 MiB. Not on macOS, where python3 may be the stub that asks to install the developer tools.
python=
case $(uname -s) in Darwin) ;; *) command -v python3 >/dev/null 2>&1 && python=1 ;; esac
# python3 also waits for each range's done marker itself, looking every 5 ms: sh would run a sleep for
# each look, and the last range's hash would wait for up to a nap more. It opens the file once the first
# range is done (the writer makes it), and writes an empty line on stderr after every 64 MiB, as
# read_range does. Either waiting gives up after about two minutes without a new range, and when the
# staged data it was reading goes away (published by another run, or abandoned).
hash_ranges_py='
import hashlib, os, sys, time
client, sha, unit, done, data, seen = int(sys.argv[1]), hashlib.sha256(), 1 << 20, 0, None, False
def landed(r):
    global seen
    deadline = time.monotonic() + 120
    while not os.path.isfile("done." + r):
        try:
            os.kill(client, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        if os.path.isfile("data"):
            seen = True
        elif seen or time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
for line in sys.stdin:
    r = line.strip()
    if not landed(r):
        break
    start, end = (int(n) for n in r.split("-"))
    data = data or open("data", "rb", buffering=0)
    data.seek(start)
    while start < end:
        chunk = data.read(min(end - start, unit))
        if not chunk:
            sys.exit("the staged data is shorter than its ranges")
        sha.update(chunk)
        start += len(chunk)
        done += len(chunk)
        if done % (64 * unit) < len(chunk):
            sys.stderr.write("\n")
            sys.stderr.flush()
print(sha.hexdigest())
'
if [ -z "$python" ]; then
  nap=0.05; patience=2400; seen=0
  sleep "$nap" 2>/dev/null || { nap=1; patience=120; }
fi
# ranges: each range in order, as a line `<start>-<end>`: at once for python3, which waits for them;
# otherwise each as soon as its done marker appears.
ranges() {
  [ -z "$python" ] || { printf '%s\n' "$@"; return; }
  for r in "$@"; do
    waited=0
    until [ -f "done.$r" ]; do
      kill -0 "$client" 2>/dev/null && [ "$waited" -lt "$patience" ] || return 1
      if [ -f data ]; then seen=1; elif [ "$seen" = 1 ]; then return 1; fi
      sleep "$nap"
      waited=$((waited + 1))
    done
    echo "$r"
  done
}
# hash_ranges: the sha256 of the staged data over the ranges read from stdin, in order.
hash_ranges() {
  if [ -n "$python" ]; then
    python3 -E -s -c "$hash_ranges_py" "$client"
  else
    while read -r r; do read_range data "${r%-*}" "${r#*-}"; done | sha256_of
  fi
}
# The main shell waits for this pipeline, not for a command substitution: waiting, it reaps the watcher
# when that ends, so `kill -0` in ranges (or python3's os.kill) sees the client gone (a zombie would still
# answer it).
status=0
ranges "$@" | {
  sum=$(hash_ranges)
  if [ "$sum" = "$h" ] && [ "$(wc -c < data | tr -d ' ')" = "$size" ] && cd -P .. && take_lock "$h" >/dev/null; then
    keep_verified "$h"
    echo stored
  else
    echo "$sum"
  fi
} || status=$?
# Gone before the warm shell says it is done: the client then sends the next program to that stdin.
kill "$client" 2>/dev/null || :
wait "$client" 2>/dev/null || :
[ "$status" = 0 ] || exit "$status"
