# shellcheck shell=sh
# lib.sh: the helpers every destination program starts with (the loader puts this file in front of each).
#
# The destination store is untrusted: whoever else can write it (the ollama user, a pod's container on a
# hostPath volume) may plant links or files at any name. So the programs
#   - enter each directory with enter_dir, which refuses a link or a non-directory and checks that the
#     physical directory entered is the one named, then work with names relative to it;
#   - keep everything unfinished in .ollama-push, a directory of the pushing user's own, made mode 0700
#     (one that another user owns or can write is refused: what it holds cannot be trusted);
#   - rename into blobs/ and manifests/ with mv_nofollow from inside the target directory, and check
#     what landed there;
#   - go back up with `cd -P ..` (the parent of the directory entered), never by a path resolved again;
#   - refuse anything unexpected with `unsafe` (exit 3, one line on stderr), which the client reports
#     and never retries.
# Variables are shared both ways with the program this file is put in front of (SC2034, SC2154), and
# ls is parsed only for names that are sha256-<hex>, and a name listed twice is refused (SC2012).
# shellcheck disable=SC2034,SC2154,SC2012

umask 022

unsafe() {
  printf 'unsafe destination: %s\n' "$*" >&2
  exit 3
}

# enter_dir NAME [create]: cd into the directory NAME of the current one; 1 when it does not exist.
enter_dir() {
  if [ -L "$1" ]; then unsafe "$PWD/$1 is a symbolic link; ollama-push never follows links in the store: remove it"; fi
  if [ ! -e "$1" ]; then
    [ "${2-}" = create ] || return 1
    mkdir -- "$1" 2>/dev/null || [ -d "$1" ] || { mkdir -- "$1"; exit 1; }
    enter_dir "$1"
    return
  fi
  [ -d "$1" ] || unsafe "$PWD/$1 is not a directory: remove it"
  set -- "$1" "${PWD%/}/$1"
  cd -P -- "$1" || exit 1
  [ "$PWD" = "$2" ] || unsafe "$2 was replaced while it was being entered"
}

# has_dir NAME: whether NAME is a real directory here (a link or a file there is refused).
has_dir() {
  ( enter_dir "$1" ) || { set -- $?; [ "$1" = 1 ] && return 1; exit "$1"; }
}

# enter_store PATH LAYOUT: cd into the models dir: PATH itself, or PATH/models (made if need be) for the
# layout home. PATH is the user's choice and resolved physically once; below it nothing is followed.
# LAYOUT is home or models, followed by `:` and the physical path the probe found PATH to be: a link on
# the way that was changed since then (by whoever can write above the store) is refused.
enter_store() {
  cd -P -- "$1" || return 1
  case $2 in
    *:*) [ "$PWD" = "${2#*:}" ] || unsafe "$1 now leads to $PWD, not to ${2#*:} as when the push began (a link on the way was changed)" ;;
  esac
  [ "${2%%:*}" != home ] || enter_dir models create
}

# enter_staging: cd into .ollama-push, created private to this user (mode 0700 from the start). One that
# another user owns, or can write (a `chmod -R 777` of the store), may hold their links: refused.
enter_staging() {
  [ -e .ollama-push ] || [ -L .ollama-push ] || mkdir -m 700 .ollama-push 2>/dev/null || true
  enter_dir .ollama-push create
  [ -O . ] || unsafe "$PWD belongs to another user: remove it (it holds only unfinished uploads) or push as its owner"
  # The mode, from the start of ls's line: the group's and others' w are its 6th and 9th characters.
  case $(LC_ALL=C ls -ldn .) in
    ?????w* | ????????w*) unsafe "$PWD is writable by other users, so what it holds cannot be trusted: remove it (it holds only unfinished uploads)" ;;
    drwx------*) ;;
    *) chmod 700 . || exit 1 ;;
  esac
}

# is_published FILE SIZE: FILE is a regular file of SIZE bytes. Anything but a file there is refused.
is_published() {
  if [ -L "$1" ] || { [ -e "$1" ] && [ ! -f "$1" ]; }; then
    unsafe "${PWD%/}/$1 is not a regular file (a link or a directory where a blob belongs): remove it"
  fi
  [ -f "$1" ] && [ "$(wc -c < "$1" | tr -d ' ')" = "$2" ]
}

# mv_nofollow SOURCE NAME: renames SOURCE to NAME in the current directory, replacing a file there but
# never moving into a directory or through a link at NAME (GNU and busybox mv -T, BSD mv -h), then checks
# that a regular file landed.
mv_nofollow() {
  case $(uname -s) in
    Darwin | *BSD | DragonFly) mv -f -h -- "$1" "$2" ;;
    *) mv -f -T -- "$1" "$2" ;;
  esac || exit 1
  if [ -L "$2" ] || [ ! -f "$2" ]; then
    rm -f -- "$2"
    unsafe "${PWD%/}/$2 was not a regular file after it was renamed into place"
  fi
}

# hasher_words: the words of the command that prints the sha256 of stdin, or of each file it is given,
# with the tool named in $hasher (the client picks it from the probe).
hasher_words() {
  case $hasher in
    openssl) echo openssl dgst -sha256 -r ;;
    sha256sum) echo sha256sum ;;
    shasum) echo shasum -a 256 ;;
    *) echo "no sha256 tool (openssl, sha256sum or shasum) on the destination" >&2; return 1 ;;
  esac
}

# sha256_of: the hex sha256 of stdin.
sha256_of() {
  words=$(hasher_words) || return 1
  # shellcheck disable=SC2086 # the command's words
  $words | cut -c1-64
}

# read_range FILE START END: bytes START to END of FILE (START a multiple of 1 MiB) on stdout, 64 MiB at
# a time, with an empty line on stderr after each: the client's stall watchdog sees the work go on (a
# hash of many GiB says nothing for minutes), and a stuck disk as silence. dd alone where it can count
# bytes (one process and one copy fewer than dd | head).
read_range() {
  [ -n "${exact_dd-}" ] || { exact_dd && exact_dd=1 || exact_dd=0; }
  set -- "$1" "$2" "$3" 0
  while [ "$2" -lt "$3" ]; do
    set -- "$1" "$2" "$3" $(($3 - $2))
    [ "$4" -le 67108864 ] || set -- "$1" "$2" "$3" 67108864
    if [ "$exact_dd" = 1 ]; then
      dd if="$1" bs=65536 skip=$(($2 / 65536)) count="$4" iflag=count_bytes 2>/dev/null
    else
      dd if="$1" bs=1048576 skip=$(($2 / 1048576)) count=$((($4 + 1048575) / 1048576)) 2>/dev/null | head -c "$4"
    fi
    echo >&2
    set -- "$1" $(($2 + $4)) "$3"
  done
}

# sha256_file FILE SIZE: the hex sha256 of FILE, SIZE bytes long, read with read_range.
sha256_file() {
  read_range "$1" 0 "$2" | sha256_of
}

# exact_dd: whether dd can read exactly N bytes of a pipe (iflag=fullblock,count_bytes: GNU, busybox).
exact_dd() {
  [ "$(printf ab | dd bs=1 count=1 iflag=fullblock,count_bytes 2>/dev/null)" = a ]
}

# block_dd: whether dd fills each block from a pipe (iflag=fullblock) though it cannot count bytes, as the
# dd of FreeBSD (12.1 and later) and of recent macOS: see dd_blocks.
block_dd() {
  [ "$(printf abc | dd bs=2 count=1 iflag=fullblock 2>/dev/null)" = ab ]
}

# dd_blocks N SEEK [OPERAND...]: exactly N bytes of stdin through dd, written from 64 KiB block SEEK of
# its output, with a dd that fills blocks but cannot count bytes: whole 64 KiB blocks, then one input
# block of the rest. Each dd's messages go to stderr (a line `<n> bytes ...` each).
dd_blocks() {
  dd_n=$1; dd_at=$2; shift 2
  [ $((dd_n / 65536)) = 0 ] || dd bs=65536 seek="$dd_at" count=$((dd_n / 65536)) iflag=fullblock "$@" || return
  [ $((dd_n % 65536)) = 0 ] || dd ibs=$((dd_n % 65536)) obs=65536 seek=$((dd_at + dd_n / 65536)) count=1 iflag=fullblock "$@"
}

# take_bytes N: copies exactly N bytes from stdin to stdout and reads no further. busybox and BSD head -c
# read ahead on a pipe, so dd where it can ($exact_dd or $block_dd set), else head (GNU's stops at N).
take_bytes() {
  if [ "${exact_dd-}" = 1 ]; then
    dd bs=65536 count="$1" iflag=fullblock,count_bytes 2>/dev/null
  elif [ "${block_dd-}" = 1 ]; then
    dd_blocks "$1" 0 2>/dev/null
  else
    head -c "$1"
  fi
}

# take_lock HEX (cwd: staging; $me, $stale, $dead set): takes the blob's lock, or answers `busy <owner>`.
# The lock is a directory (mkdir is atomic); its owner file names the run, its mtime is the heartbeat.
take_lock() {
  set -- "sha256-$1.lock"
  if err=$(mkdir "$1" 2>&1); then printf '%s\n' "$me" > "$1/owner" || exit 1; return 0; fi
  if [ -L "$1" ] || [ ! -d "$1" ]; then printf '%s\n' "$err" >&2; exit 1; fi
  owner=$(cat "$1/owner" 2>/dev/null)
  # Its maker writes the owner just after mkdir: one found without an owner yet is read again (another
  # writer of this run, say, is not another run's).
  n=0
  while [ -z "$owner" ] && [ "$n" -lt 20 ] && [ -d "$1" ]; do
    sleep 0.1 2>/dev/null || { sleep 1; n=$((n + 9)); }
    owner=$(cat "$1/owner" 2>/dev/null)
    n=$((n + 1))
  done
  [ "$owner" = "$me" ] && { touch "$1"; return 0; }
  if { [ -n "$dead" ] && [ "$owner" = "$dead" ]; } || [ -n "$(find "$1" -prune -mmin +"$stale" 2>/dev/null)" ]; then
    mv "$1" "$1.$$" 2>/dev/null && rm -rf -- "$1.$$"
    if mkdir "$1" 2>/dev/null; then printf '%s\n' "$me" > "$1/owner" || exit 1; return 0; fi
    owner=$(cat "$1/owner" 2>/dev/null)
  fi
  printf 'busy %s\n' "$owner"
  return 1
}

# enter_blob_staging HEX (cwd: staging): cd into sha256-HEX, where the blob is assembled as `data`.
enter_blob_staging() {
  enter_dir "sha256-$1" create
  if [ -L data ] || { [ -e data ] && [ ! -f data ]; }; then unsafe "$PWD/data is not a regular file: remove $PWD"; fi
}

# blob_table (cwd: the models dir): `<hex> <type> <size>` for each sha256-<hex> in blobs/, in one process
# however many there are (type: - a file, d a directory, l a link, ...; ? a name listed twice). The name
# is the 9th field (dates are 3 fields in the C locale; GNU's TIME_STYLE and QUOTING_STYLE are pinned),
# alone on a file's line and before `->` on a link's, so another name that ends in ` sha256-<hex>` is not
# taken for it. A name or link target with a newline can still fake a line where ls has no -q, but never
# hide the real line of that name: a name listed twice is `?`, refused.
blob_table() {
  set -- -ln
  ls -q / >/dev/null 2>&1 && set -- -lnq
  LC_ALL=C TIME_STYLE=locale QUOTING_STYLE=literal ls "$@" blobs 2>/dev/null | awk '
    { type = substr($1, 1, 1); name = "" }
    type == "l" && $10 == "->" { name = $9 }
    type != "l" && NF == 9 { name = $9 }
    name ~ /^sha256-[0-9a-f]+$/ {
      h = substr(name, 8)
      if (h in t) t[h] = "?"; else { t[h] = type; size[h] = $5 }
    }
    END { for (h in t) print h, t[h], size[h] }'
}

# missing_blobs (cwd: the models dir): reads `<hex> <size>` lines and prints the first blob that is not
# published with that size as `missing <hex>`; refuses a link or a directory at a blob's name.
missing_blobs() {
  { blob_table; echo /; cat; } | awk '
    !listed { if ($0 == "/") listed = 1; else { type[$1] = $2; size[$1] = $3 }; next }
    NF < 2 { next }
    type[$1] != "" && type[$1] != "-" { print "unsafe " $1; exit }
    type[$1] != "-" || size[$1] != $2 { print "missing " $1; exit }'
}

# existing_name NAME: NAME, or the entry here that equals it ignoring case: Ollama matches names
# case-insensitively and keeps the spelling already on disk.
existing_name() {
  if [ -e "$1" ] || [ -L "$1" ]; then printf '%s\n' "$1"; return; fi
  found=$(ls -a | awk -v want="$1" 'tolower($0) == tolower(want) { print; exit }')
  printf '%s\n' "${found:-$1}"
}

# keep_verified HEX (cwd: staging; the blob's lock held, its data verified; $co set): moves the data into
# verified/, where it waits for its manifest (publish-manifest.sh), and drops the blob's staging and lock.
# A publisher removes verified/ once empty: made again when that happens between the two steps here.
keep_verified() {
  (cd "sha256-$1" && chmod 644 data && touch data && { [ -z "$co" ] || chown -h "$co" data; }) || exit 1
  (enter_dir verified create && mv_nofollow "../sha256-$1/data" "sha256-$1") 2>/dev/null ||
    (enter_dir verified create && mv_nofollow "../sha256-$1/data" "sha256-$1") || exit $?
  rm -rf -- "sha256-$1" "sha256-$1.lock"
}

# blob_stored HEX SIZE (cwd: staging): whether the blob is complete here with SIZE bytes: verified and
# waiting in verified/ for its manifest (see publish-manifest.sh), or published in blobs/.
blob_stored() {
  if [ -f "verified/sha256-$1" ] && [ ! -L "verified/sha256-$1" ] && [ "$(wc -c < "verified/sha256-$1" | tr -d ' ')" = "$2" ]; then return 0; fi
  (cd -P .. && is_published "blobs/sha256-$1" "$2") || { set -- $?; [ "$1" = 1 ] && return 1; exit "$1"; }
}

# move_verified_here (cwd: blobs/): renames the files named on stdin (sha256-<hex>) from the staging's
# verified/ to here, in a few processes. GNU and busybox mv -t rename over a link at a name, never into
# it; BSD mv is told per file (-h). A name that is gone (another run moved it first) is skipped: the
# caller checks what landed.
move_verified_here() {
  case $(uname -s) in
    Darwin | *BSD | DragonFly)
      while read -r f; do [ ! -f "../.ollama-push/verified/$f" ] || mv -f -h -- "../.ollama-push/verified/$f" "$f" 2>/dev/null; done ;;
    *) sed 's|^|../.ollama-push/verified/|' | xargs mv -f -t . 2>/dev/null ;;
  esac
  return 0
}
