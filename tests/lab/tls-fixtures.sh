#!/usr/bin/env bash
# Makes tests/fixtures/tls/*.pcapng: real OpenSSL handshakes on loopback, captured by
# tcpdump, each with the NSS key log the client wrote (FILE.keys). Cases:
#   tls13-http11   TLS 1.3, ALPN http/1.1, SNI lab.example, a short HTTP exchange
#   tls12-gcm      TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256, ALPN h2+http/1.1 -> h2
#   tls12-chacha   TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305
#   tls13-chacha   TLS 1.3 TLS_CHACHA20_POLY1305_SHA256
#   version-alert  a TLS 1.2-only client to a TLS 1.3-only server (protocol_version)
#   unknown-ca     a client verifying against another CA (fatal alert from the client)
#   tls12-expired  TLS 1.2 with an expired certificate for other.example (SNI lab.example)
#   wss1{2,3}-{ok,reject}  a python websockets client over wss:// (TLS 1.2 / 1.3) to a
#                  websockets server accepting (echo) or rejecting (403) the upgrade
#   tls12-cbc-etm  TLS 1.2 ECDHE-RSA-AES128-SHA, encrypt-then-MAC (OpenSSL's default)
#   tls12-cbc-mte  TLS 1.2 ECDHE-RSA-AES256-SHA384, client -no_etm (MAC-then-encrypt)
# ONLY="name ..." makes just those cases (the others' files are left as they are).
# Needs root (tcpdump), openssl, tcpdump. Run: tests/lab/tls-fixtures.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/../fixtures/tls
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$out"
cd "$work"

openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 3650 \
    -subj /CN=lab.example -addext subjectAltName=DNS:lab.example,DNS:*.lab.example 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout otherkey.pem -out other.pem -days 3650 \
    -subj /CN=otherca 2>/dev/null
# An expired certificate: `openssl ca` takes explicit dates.
mkdir -p ca/newcerts && : >ca/index.txt && echo 01 >ca/serial
cat >ca.cnf <<CNF
[ca]
default_ca = d
[d]
dir = ca
database = ca/index.txt
new_certs_dir = ca/newcerts
serial = ca/serial
default_md = sha256
policy = p
copy_extensions = copy
[p]
commonName = supplied
CNF
openssl req -new -newkey rsa:2048 -nodes -keyout oldkey.pem -out old.csr \
    -subj /CN=other.example -addext subjectAltName=DNS:other.example 2>/dev/null
openssl ca -batch -config ca.cnf -selfsign -keyfile oldkey.pem -in old.csr -out old.pem \
    -startdate 20200101000000Z -enddate 20210101000000Z >/dev/null 2>&1

port=44300
# run NAME 'server args' 'client args' [stdin text]
run() {
    local name=$1 sargs=$2 cargs=$3 input=${4:-Q}
    port=$((port + 1))
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return 0; fi
    tcpdump -i lo -U -s 0 -w "$name.pcapng" --immediate-mode "tcp port $port" 2>/dev/null &
    local dump=$!
    # shellcheck disable=SC2086
    # Its standard input held open: s_server ends a connection at EOF there.
    sleep 5 | openssl s_server -accept 127.0.0.1:$port -naccept 1 $sargs >/dev/null 2>&1 &
    local srv=$!
    sleep 1
    # shellcheck disable=SC2086
    { printf '%s\r\n\r\n' "$input"; sleep 1; } | timeout 10 openssl s_client -connect 127.0.0.1:$port \
        -keylogfile "$name.keys" $cargs >/dev/null 2>&1 || true
    sleep 1
    kill $srv 2>/dev/null || true
    kill $dump; wait $dump 2>/dev/null || true
    cp "$name.pcapng" "$out/$name.pcapng"
    [ -s "$name.keys" ] && cp "$name.keys" "$out/$name.keys"
    echo "$name: $(stat -c %s "$name.pcapng") bytes"
}
srv="-cert cert.pem -key key.pem"
run tls13-http11 "$srv -tls1_3 -alpn http/1.1 -www" "-tls1_3 -servername lab.example -alpn http/1.1" \
    'GET / HTTP/1.1'
run tls12-gcm "$srv -tls1_2 -alpn h2,http/1.1" \
    "-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -servername lab.example -alpn h2,http/1.1"
run tls12-chacha "$srv -tls1_2" "-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305 -servername lab.example"
run tls13-chacha "$srv -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256" \
    "-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256 -servername www.lab.example"
run version-alert "$srv -tls1_3" "-tls1_2 -servername lab.example"
run unknown-ca "$srv -tls1_2" "-tls1_2 -servername lab.example -CAfile other.pem -verify_return_error"
# wss: python websockets server and client (TLS 1.2 and 1.3; accepted and rejected).
wss() {
    local name=$1 tls=$2 mode=$3
    port=$((port + 1))
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return 0; fi
    tcpdump -i lo -U -s 0 -w "$name.pcapng" --immediate-mode "tcp port $port" 2>/dev/null &
    local dump=$!
    sleep 1
    /usr/bin/python3 "$here/wss_pair.py" --port $port --cert cert.pem --key key.pem \
        --keylog "$name.keys" --tls "$tls" --mode "$mode"
    sleep 1
    kill $dump; wait $dump 2>/dev/null || true
    cp "$name.pcapng" "$name.keys" "$out/"
    echo "$name: $(stat -c %s "$name.pcapng") bytes"
}
wss wss13-ok 1.3 ok
wss wss12-ok 1.2 ok
wss wss13-reject 1.3 reject
wss wss12-reject 1.2 reject
run tls12-expired "-cert old.pem -key oldkey.pem -tls1_2" "-tls1_2 -servername lab.example"
run tls12-cbc-etm "$srv -tls1_2 -www" "-tls1_2 -cipher ECDHE-RSA-AES128-SHA -servername lab.example" \
    'GET / HTTP/1.1'
run tls12-cbc-mte "$srv -tls1_2 -www" \
    "-tls1_2 -cipher ECDHE-RSA-AES256-SHA384 -no_etm -servername lab.example" 'GET / HTTP/1.1'
