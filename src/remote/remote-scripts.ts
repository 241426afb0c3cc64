/**
 * The POSIX sh programs the destination runs. Each takes its inputs as positional parameters (quoted by
 * shellQuote), never by text substitution, so a hostile path cannot change what a script does.
 *
 * Staging lives in `<models>/.ollama-push/` (Ollama never scans a hidden dir in the models root; it
 * prunes non-digest files in blobs/ and lists any file under manifests/):
 *   sha256-<hex>/data              the blob being assembled, ranges written in place
 *   sha256-<hex>/done.<start>-<end> a range fully written (the remote's word on what to resume)
 *   sha256-<hex>.lock/owner        which run is writing this blob; its mtime is the heartbeat
 */

const PRELUDE = `umask 022
root=$1; shift
st=$root/.ollama-push
`;

/** Lock helper shared by the scripts that write: take the blob's lock, or say who holds it. */
const TAKE_LOCK = `take_lock() {
  l=$st/sha256-$1.lock
  mkdir -p "$st" || exit 1
  if err=$(mkdir "$l" 2>&1); then printf '%s\\n' "$me" > "$l/owner" || exit 1; return 0; fi
  [ -d "$l" ] || { printf '%s\\n' "$err" >&2; exit 1; }
  owner=$(cat "$l/owner" 2>/dev/null)
  [ "$owner" = "$me" ] && { touch "$l"; return 0; }
  if [ -n "$dead" ] && [ "$owner" = "$dead" ] || [ -n "$(find "$l" -prune -mmin +"$stale" 2>/dev/null)" ]; then
    mv "$l" "$l.$$" 2>/dev/null && rm -rf "$l.$$"
    if mkdir "$l" 2>/dev/null; then printf '%s\\n' "$me" > "$l/owner" || exit 1; return 0; fi
    owner=$(cat "$l/owner" 2>/dev/null)
  fi
  printf 'busy %s\\n' "$owner"
  return 1
}
`;

/** `sha256_of [FILE]`: the hex sha256 of FILE (or stdin) with the tool named in $hasher. */
export const SHA256_OF = `sha256_of() {
  case $hasher in
    openssl) set -- openssl dgst -sha256 -r "$@" ;;
    sha256sum) set -- sha256sum "$@" ;;
    shasum) set -- shasum -a 256 "$@" ;;
    *) echo "no sha256 tool (openssl, sha256sum or shasum) on the destination" >&2; return 1 ;;
  esac
  "$@" | cut -c1-64
}
`;

/**
 * args: root create manifestCount manifestPath... hex...; prints the layout, tools, free space, the sha256
 * of each given manifest (relative to manifests/), and each blob's published size and staged ranges.
 */
export const PROBE = `umask 022
root=$1; create=$2; nman=$3; shift 3
if [ ! -d "$root" ]; then
  if [ "$create" = 1 ]; then mkdir -p -- "$root" || exit 1; else echo "layout missing"; exit 0; fi
fi
given=$root
if [ -d "$root/models" ] || [ -f "$root/id_ed25519" ]; then root=$root/models; echo "layout home"; else echo "layout models"; fi
[ -d "$root" ] || [ "$create" != 1 ] || mkdir -p -- "$root" || exit 1
for t in openssl sha256sum shasum xxhsum; do command -v "$t" >/dev/null 2>&1 && echo "tool $t"; done
echo "free $(df -Pk "$given" 2>/dev/null | awk 'NR==2 {print $4}')"
hasher=none
# The last one found wins: openssl (fastest) before sha256sum before shasum, as the client picks.
for t in shasum sha256sum openssl; do command -v "$t" >/dev/null 2>&1 && hasher=$t; done
${SHA256_OF}i=0
while [ "$i" -lt "$nman" ]; do
  m=$root/manifests/$1; shift
  if [ -f "$m" ]; then echo "manifest $i $(sha256_of "$m" 2>/dev/null)"; else echo "manifest $i -"; fi
  i=$((i + 1))
done
st=$root/.ollama-push
for h in "$@"; do
  f=$root/blobs/sha256-$h
  if [ -f "$f" ]; then size=$(wc -c < "$f" | tr -d ' '); else size=-; fi
  ranges=$(cd "$st/sha256-$h" 2>/dev/null && for m in done.*; do [ -f "$m" ] && printf '%s ' "\${m#done.}"; done)
  echo "blob $h $size $ranges"
  if owner=$(cat "$st/sha256-$h.lock/owner" 2>/dev/null); then echo "lock $h $owner"; fi
done
`;

/** args: root hex size owner staleMinutes deadOwner; takes the blob's lock without sending anything. */
export const TAKE_LOCK_ONLY = `${PRELUDE}h=$1; size=$2; me=$3; stale=$4; dead=$5
f=$root/blobs/sha256-$h
[ -f "$f" ] && [ "$(wc -c < "$f" | tr -d ' ')" = "$size" ] && { echo published; exit 0; }
${TAKE_LOCK}take_lock "$h" || exit 0
echo acquired
`;

/**
 * args: root owner staleMinutes. A long-lived writer, one per channel, so a range costs no new command
 * (no login shell, no round trip to open a channel). Reads requests from stdin: a line
 * `<hex> <size> <start> <length> [deadOwner]`, then exactly length bytes and END_MARK; answers each with
 * one line: `written`, `published`, `short` (the data ended early) or `busy <owner>`.
 */
export const RANGE_WRITER = `${PRELUDE}me=$1; stale=$2
${TAKE_LOCK}while read -r h size start len dead; do
  f=$root/blobs/sha256-$h
  if [ -f "$f" ] && [ "$(wc -c < "$f" | tr -d ' ')" = "$size" ]; then head -c $((len + 8)) > /dev/null; echo published; continue; fi
  take_lock "$h" || { head -c $((len + 8)) > /dev/null; continue; }
  d=$st/sha256-$h
  mkdir -p "$d" || exit 1
  # The lock's heartbeat while a long range arrives (a slow link, --bwlimit): others take it after $stale minutes.
  (while kill -0 $$ 2>/dev/null; do touch "$st/sha256-$h.lock"; sleep 20; done) </dev/null >/dev/null 2>&1 &
  beat=$!
  err=$(head -c "$len" | dd of="$d/data" bs=1048576 seek=$((start / 1048576)) conv=notrunc 2>&1 >/dev/null) || { kill $beat; printf '%s\\n' "$err" >&2; exit 1; }
  kill $beat
  [ "$(head -c 8)" = OPUSHEND ] || { echo short; exit 0; }
  : > "$d/done.$start-$((start + len))" && touch "$st/sha256-$h.lock" || exit 1
  echo written
done
`;

export const END_MARK = Buffer.from('OPUSHEND');

/**
 * args: root hex size owner staleMinutes deadOwner hasher chown followed; verifies the staged blob and
 * renames it into blobs/. `followed` is the sha256 HASH_FOLLOW computed of the same file as it was
 * written: when it is the digest, the file need not be read again.
 */
export const COMMIT_BLOB = `${PRELUDE}h=$1; size=$2; me=$3; stale=$4; dead=$5; hasher=$6; co=$7; followed=$8
f=$root/blobs/sha256-$h
[ -f "$f" ] && [ "$(wc -c < "$f" | tr -d ' ')" = "$size" ] && { echo published; exit 0; }
${TAKE_LOCK}take_lock "$h" || exit 0
d=$st/sha256-$h
mkdir -p "$d" || exit 1
[ "$size" = 0 ] && : > "$d/data"
actual=$(wc -c < "$d/data" 2>/dev/null | tr -d ' ')
if [ "$actual" != "$size" ]; then rm -rf "$d"; rm -rf "$st/sha256-$h.lock"; echo "mismatch size:\${actual:-0}"; exit 0; fi
${SHA256_OF}if [ "$followed" = "$h" ]; then sum=$h; else sum=$(sha256_of "$d/data") || exit 1; fi
if [ "$sum" != "$h" ]; then rm -rf "$d"; rm -rf "$st/sha256-$h.lock"; echo "mismatch sha256:$sum"; exit 0; fi
mkdir -p "$root/blobs" && chmod 644 "$d/data" && touch "$d/data" || exit 1
[ -z "$co" ] || chown "$co" "$root/blobs" "$d/data" || exit 1
mv -f "$d/data" "$f" || exit 1
rm -rf "$d" "$st/sha256-$h.lock"
echo published
`;

/** args: root chown host namespace model tag hex:size...; stdin: the manifest bytes. Publishes only if every blob is in place. */
export const PUBLISH_MANIFEST = `${PRELUDE}co=$1; shift
m=$root/manifests; dir=$m/$1/$2/$3; tag=$4; shift 4
check() {
  for b in "$@"; do
    f=$root/blobs/sha256-\${b%:*}
    [ -f "$f" ] && [ "$(wc -c < "$f" | tr -d ' ')" = "\${b#*:}" ] || { echo "missing \${b%:*}"; return 1; }
  done
}
check "$@" || exit 0
mkdir -p "$st" || exit 1
tmp=$st/manifest.$$.tmp
cat > "$tmp" || { rm -f "$tmp"; exit 1; }
if cmp -s "$tmp" "$dir/$tag"; then rm -f "$tmp"; echo unchanged; exit 0; fi
chmod 644 "$tmp" && mkdir -p "$dir" || { rm -f "$tmp"; exit 1; }
[ -z "$co" ] || chown "$co" "$m" "\${dir%/*/*}" "\${dir%/*}" "$dir" "$tmp" || { rm -f "$tmp"; exit 1; }
mv -f "$tmp" "$dir/$tag" || { rm -f "$tmp"; exit 1; }
check "$@" || exit 0
echo published
`;

/** args: root algorithm hex:start:end...; prints `hex:start:end <hash>` of each staged range (xxh64 or sha256). */
export const HASH_STAGED = `root=$1; algo=$2; hasher=$2; shift 2
${SHA256_OF}for r in "$@"; do
  h=\${r%%:*}; rest=\${r#*:}; start=\${rest%%:*}; end=\${rest#*:}
  f=$root/.ollama-push/sha256-$h/data
  range() { dd if="$f" bs=1048576 skip=$((start / 1048576)) count=$(((end - start + 1048575) / 1048576)) 2>/dev/null | head -c $((end - start)); }
  if [ "$algo" = xxhsum ]; then sum=$(range | xxhsum -H64 | cut -c1-16); else sum=$(range | sha256_of); fi
  echo "$r $sum"
done
`;

/**
 * args: root hex hasher start-end...; hashes a blob while it is being staged: each range in order, as
 * soon as its done marker appears, so the sha256 is ready when the last range lands. Prints the sha256
 * of what it read; anything else (a range never finished, the staging gone) gives another hash.
 */
export const HASH_FOLLOW = `root=$1; h=$2; hasher=$3; shift 3
d=$root/.ollama-push/sha256-$h
# Gives up after about two minutes without a new range, so it cannot outlive a client that died, and
# when the staging it read from goes away (published by another run, or abandoned).
nap=0.05; patience=2400
sleep "$nap" 2>/dev/null || { nap=1; patience=120; }
seen=0
emit() {
  for r in "$@"; do
    start=\${r%-*}; end=\${r#*-}
    waited=0
    until [ -f "$d/done.$r" ]; do
      if [ -d "$d" ]; then seen=1; elif [ "$seen" = 1 ]; then return 1; fi
      [ "$waited" -lt "$patience" ] || return 1
      sleep "$nap"
      waited=$((waited + 1))
    done
    dd if="$d/data" bs=1048576 skip=$((start / 1048576)) count=$(((end - start + 1048575) / 1048576)) 2>/dev/null | head -c $((end - start))
  done
}
${SHA256_OF}emit "$@" | sha256_of
`;

/**
 * args: root hasher chown hex:size...; stdin: those blobs' bytes, one after another. Small blobs
 * (configs, templates, params) all in one command: each is written to its own temp file, verified and
 * renamed into blobs/, so no lock is needed. Prints `<hex> published` or `<hex> mismatch <sha256>`.
 */
export const SMALL_BLOBS = `umask 022
root=$1; hasher=$2; co=$3; shift 3
${SHA256_OF}st=$root/.ollama-push
mkdir -p "$st" "$root/blobs" || exit 1
for b in "$@"; do
  h=\${b%:*}; size=\${b#*:}
  f=$root/blobs/sha256-$h
  if [ -f "$f" ] && [ "$(wc -c < "$f" | tr -d ' ')" = "$size" ]; then head -c "$size" > /dev/null; echo "$h published"; continue; fi
  tmp=$st/small.$$.$h
  head -c "$size" > "$tmp" || { rm -f "$tmp"; exit 1; }
  sum=$(sha256_of "$tmp") || exit 1
  if [ "$sum" != "$h" ]; then rm -f "$tmp"; echo "$h mismatch $sum"; continue; fi
  chmod 644 "$tmp" || exit 1
  [ -z "$co" ] || chown "$co" "$root/blobs" "$tmp" || exit 1
  mv -f "$tmp" "$f" || { rm -f "$tmp"; exit 1; }
  echo "$h published"
done
`;
