# hash-published.sh PATH LAYOUT HASHER: the sha256 of published blobs, for --verify.
#   HASHER  openssl, sha256sum or shasum
# stdin: lines `<hex>`.
# answers one line per blob: `<hex> <sha256>`, or `<hex> -` when it is not there.
given=$1; layout=$2; hasher=$3
enter_store "$given" "$layout" || exit 1
has_dir blobs || { while read -r h; do echo "$h -"; done; exit 0; }
enter_dir blobs
while read -r h; do
  f=sha256-$h
  if [ -L "$f" ] || { [ -e "$f" ] && [ ! -f "$f" ]; }; then unsafe "$PWD/$f is not a regular file (a link or a directory where a blob belongs): remove it"; fi
  if [ -f "$f" ]; then echo "$h $(sha256_of < "$f")"; else echo "$h -"; fi
done
