#!/bin/bash
# clamd as the image's own user; refuses to start without signatures on its volume.
set -euo pipefail
shopt -s nullglob
sigs=(/var/lib/clamav/*.{cvd,cld,cud,hdb,hsb,ndb,ldb,cdb,mdb,msb,ndu,ldu,yar,yara})
if [ ${#sigs[@]} -eq 0 ]; then
  echo "clamd: no signatures in /var/lib/clamav: fill the clamav-db volume (offline bundle or freshclam)" >&2
  exit 1
fi
rm -f /run/clamav/clamd.sock
exec clamd --config-file=/etc/frostbyte/clamd.conf "$@"
