#!/bin/bash
# Healthy once the tenant's bucket exists and S3 accepts connections.
[ -e /tmp/s3.ready ] && exec 3<>/dev/tcp/127.0.0.1/8333
