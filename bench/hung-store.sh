#!/usr/bin/env bash
# Times cat, restore, verify, list and an HTTP GET over four stores while the fourth (an S3 endpoint, our own
# `blockframe serve --s3-port` over a local directory) is stopped with SIGSTOP: it accepts TCP and never answers.
# Usage: bench/hung-store.sh [BLOCKFRAME_CMD...]   (default: node bin/blockframe.js). Needs awscli and curl.
set -u
BF=("${@:-node}")
[ $# -eq 0 ] && BF=(node "$(cd "$(dirname "$0")/.." && pwd)/bin/blockframe.js")
SERVE_BF=(node "$(cd "$(dirname "$0")/.." && pwd)/bin/blockframe.js")
W=$(mktemp -d -t bf-hung-XXXXXX)
cd "$W"
export AWS_ACCESS_KEY_ID=HUNGKEY1 AWS_SECRET_ACCESS_KEY=hung-secret-1234 AWS_REGION=us-east-1
"${SERVE_BF[@]}" serve --archive "$W/s3root" --port 0 --s3-port 0 --s3-user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" >"$W/s3.out" 2>&1 &
S3PID=$!
for _ in $(seq 100); do grep -q 'S3 API at' "$W/s3.out" && break; sleep 0.1; done
EP=$(grep -o 'S3 API at http://[^/]*' "$W/s3.out" | sed 's/S3 API at //')
unset AWS_CA_BUNDLE
AWS=$( [ -x /usr/bin/aws ] && echo /usr/bin/aws || echo aws)
"$AWS" --endpoint-url "$EP" s3 mb s3://bfstore >/dev/null
head -c $((8 * 1024 * 1024)) /dev/urandom >"$W/data.bin"
"${SERVE_BF[@]}" init --store d1 --store d2 --store d3 --store "s3://bfstore/bf?endpoint=$EP" >/dev/null
"${SERVE_BF[@]}" commit --tier 3 data.bin >/dev/null || { echo "commit failed"; kill "$S3PID"; exit 1; }
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$W/err"; local rc=$?; e=$(date +%s.%N); printf '%-28s %6.1f s  exit %s\n' "$LABEL" "$(echo "$e - $s" | bc)" "$rc"; }
cmds() {
  LABEL="cat$1" t "${BF[@]}" cat data.bin
  LABEL="restore$1" t "${BF[@]}" restore data.bin -o out.bin --force
  LABEL="verify$1" t "${BF[@]}" verify
  LABEL="list$1" t "${BF[@]}" list
}
# The same commands with every store answering, for comparison (the machine's own speed), then with one stopped.
cmds ' (all answering)'
kill -STOP "$S3PID"
cmds ''
"${BF[@]}" serve --port 0 >"$W/http.out" 2>&1 &
HPID=$!
for _ in $(seq 100); do grep -q 'serving' "$W/http.out" && break; sleep 0.1; done
URL=$(grep -o 'http://[^ ]*/' "$W/http.out" | head -1)
g() { curl -s -o "$W/got.bin" -w '%{http_code} %{size_download}' --max-time 300 "${URL}files/data.bin"; }
s=$(date +%s.%N); r1=$(g); e=$(date +%s.%N); printf '%-28s %6.1f s  %s\n' 'GET (first)' "$(echo "$e - $s" | bc)" "$r1"
s=$(date +%s.%N); r2=$(g); e=$(date +%s.%N); printf '%-28s %6.1f s  %s\n' 'GET (second)' "$(echo "$e - $s" | bc)" "$r2"
cmp -s "$W/got.bin" data.bin && echo "GET bytes: exact" || echo "GET bytes: DIFFER"
kill "$HPID"
kill -CONT "$S3PID"; kill "$S3PID"
wait 2>/dev/null
cd / && rm -rf "$W"
