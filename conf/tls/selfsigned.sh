#!/bin/sh
# Makes a self-signed certificate and key for trying the edge over HTTPS with
# conf/tls.yaml: ECDSA P-256, valid 30 days, for localhost and 127.0.0.1.
#   conf/tls/selfsigned.sh [DIR] [NAME]     (default: conf/tls localhost)
# The same as this one openssl line:
#   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
#     -days 30 -subj /CN=localhost \
#     -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
#     -keyout conf/tls/edge.key -out conf/tls/edge.crt
# A browser warns about a self-signed certificate: for real viewers use one
# from a CA (e.g. ACME), and rotate it with SIGHUP (docs/operations.md).
set -eu
dir=${1:-conf/tls}
name=${2:-localhost}
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -days 30 -subj "/CN=$name" \
  -addext "subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1" \
  -keyout "$dir/edge.key" -out "$dir/edge.crt" 2>/dev/null
chmod 644 "$dir/edge.crt"
echo "wrote $dir/edge.crt and $dir/edge.key (valid 30 days for $name, localhost, 127.0.0.1)"
