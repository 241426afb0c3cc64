# hash-published.sh PATH LAYOUT HASHER DROP: the sha256 of published blobs, for --verify.
#   HASHER  openssl, sha256sum or shasum
#   DROP    1 to remove each blob whose sha256 is not its name, so that a push sends it again
# stdin: lines `<hex>`.
# answers one line per blob: `<hex> <sha256>`, or `<hex> -` when it is not there.
given=$1; layout=$2; hasher=$3; drop=$4
enter_store "$given" "$layout" || exit 1
has_dir blobs || { while read -r h; do echo "$h -"; done; exit 0; }
enter_dir blobs
while read -r h; do
  f=sha256-$h
  if [ -L "$f" ] || { [ -e "$f" ] && [ ! -f "$f" ]; }; then unsafe "$PWD/$f is not a regular file (a link or a directory where a blob belongs): remove it"; fi
  if [ ! -f "$f" ]; then echo "$h -"; continue; fi
  sum=$(sha256_file "$f" "$(wc -c < "$f" | tr -d ' ')") || exit 1
  if [ "$sum" != "$h" ] && [ "$drop" = 1 ]; then rm -f -- "$f" || exit 1; fi
  echo "$h $sum"
done
