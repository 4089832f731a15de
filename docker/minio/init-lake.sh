#!/bin/sh
# One-shot (service minio-init): the lake bucket and a least-privilege llf user (readwrite policy), so
# llf never holds the MinIO root credentials. Idempotent.
set -eu

mc alias set lake http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "lake/$LLF_LAKE_BUCKET"
mc admin user add lake "$LLF_MINIO_ACCESS_KEY" "$LLF_MINIO_SECRET_KEY"
if ! mc admin user info lake "$LLF_MINIO_ACCESS_KEY" | grep -q readwrite; then
    mc admin policy attach lake readwrite --user "$LLF_MINIO_ACCESS_KEY"
fi
echo "minio-init: bucket $LLF_LAKE_BUCKET ready for user $LLF_MINIO_ACCESS_KEY"
