#!/bin/sh
# Seeds corpus/<target>/ with one file per fixture line of the venue (and every venue's
# lines for the `json` target).
set -eu
cd "$(dirname "$0")"
for venue in binance coinbase coinbase_advanced kraken polygon bybit okx; do
    mkdir -p "corpus/$venue" corpus/json
    for f in ../feeds/tests/fixtures/"$venue"/*.jsonl; do
        [ -f "$f" ] || continue
        n=0
        while IFS= read -r line; do
            n=$((n + 1))
            name="$(basename "$f" .jsonl)_$n"
            printf '%s' "$line" > "corpus/$venue/$name"
            printf '%s' "$line" > "corpus/json/${venue}_$name"
        done < "$f"
    done
done
