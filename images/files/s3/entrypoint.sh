#!/bin/bash
# SeaweedFS (weed server: master, volume, filer, S3) of the data-plane set, as the image's own
# user. Its one S3 identity is the tenant's key from the secret files, allowed on the tenant's
# bucket only; the bucket is made with `weed shell` once the server answers (the key may not
# make buckets). Writes only to the data volume and /tmp.
set -euo pipefail
DATA=${FROSTBYTE_S3_DATA:-/var/lib/seaweedfs}
BUCKET=${FROSTBYTE_S3_BUCKET:?set FROSTBYTE_S3_BUCKET (the tenant bucket)}
SECRETS=${FROSTBYTE_SECRETS_MOUNT:-/run/secrets}
for name in object_store_access_key object_store_secret_key; do
  if [ ! -r "$SECRETS/$name" ]; then
    echo "s3: mount the $name secret at $SECRETS/$name" >&2
    exit 1
  fi
done
access=$(tr -d '\n' < "$SECRETS/object_store_access_key")
secret=$(tr -d '\n' < "$SECRETS/object_store_secret_key")
umask 077
cat > /tmp/s3.json <<JSON
{"identities": [{"name": "$BUCKET",
  "credentials": [{"accessKey": "$access", "secretKey": "$secret"}],
  "actions": ["Read:$BUCKET", "Write:$BUCKET", "List:$BUCKET", "Tagging:$BUCKET"]}]}
JSON
rm -f /tmp/s3.ready
weed server -dir="$DATA" -ip=127.0.0.1 -ip.bind=0.0.0.0 -master.telemetry=false \
  -master.volumeSizeLimitMB="${FROSTBYTE_S3_VOLUME_MB:-256}" -volume.max=0 \
  -filer -s3 -s3.port=8333 -s3.port.iceberg=0 -s3.port.lance=0 -s3.config=/tmp/s3.json &
weed_pid=$!
trap 'kill -TERM $weed_pid 2>/dev/null' TERM INT
for _ in $(seq 1 120); do
  out=$(echo "s3.bucket.create -name $BUCKET" | weed shell -master=127.0.0.1:9333 2>&1) && break
  case "$out" in *"already exist"*) break ;; esac
  kill -0 $weed_pid 2>/dev/null || { echo "s3: weed exited during start" >&2; exit 1; }
  sleep 1
done
touch /tmp/s3.ready
echo "s3: bucket $BUCKET ready"
wait $weed_pid
