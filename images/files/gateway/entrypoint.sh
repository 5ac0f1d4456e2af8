#!/bin/bash
# nginx of the gateway, as the image's own user. The api's address is looked up when a
# request comes (the set's DNS server, from resolv.conf), so the gateway starts without
# waiting for the api and answers 502 until it is up. Writes only to /tmp.
set -euo pipefail
ns=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)
case "$ns" in *:*) ns="[$ns]" ;; esac
echo "resolver ${ns:-127.0.0.11} valid=10s ipv6=off;" > /tmp/resolver.conf
exec nginx -e stderr -c /etc/frostbyte/nginx.conf -g 'daemon off;' "$@"
