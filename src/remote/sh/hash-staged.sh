# hash-staged.sh PATH LAYOUT TOOL: hashes ranges staged by earlier runs, to check them before resuming.
#   TOOL  xxhsum (fast, XXH64), or openssl, sha256sum or shasum (sha256)
# stdin: lines `<hex>:<start>:<end>`.
# answers one line per range: `<hex>:<start>:<end> <hash>` (no hash when the range cannot be read).
given=$1; layout=$2; algo=$3; hasher=$3
enter_store "$given" "$layout" || exit 1
has_dir .ollama-push || exit 0
enter_staging
while read -r r; do
  h=${r%%:*}; rest=${r#*:}; start=${rest%%:*}; end=${rest#*:}
  f=sha256-$h/data
  if [ -L "sha256-$h" ] || [ -L "$f" ] || [ ! -f "$f" ]; then echo "$r"; continue; fi
  range() { read_range "$f" "$start" "$end"; }
  if [ "$algo" = xxhsum ]; then sum=$(range | xxhsum -H64 | cut -c1-16); else sum=$(range | sha256_of); fi
  echo "$r $sum"
done
