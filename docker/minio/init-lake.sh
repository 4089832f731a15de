#!/bin/sh
# One-shot (service minio-init): the lake bucket and the llf user, whose policy reaches that bucket only:
# list it, read and write its objects (multipart uploads included). No other bucket, no bucket settings or
# policies, no deletes (llf's lake never deletes; a run's outputs stay). So llf never holds the MinIO root
# credentials, and its credentials open nothing but the lake. Idempotent; it also detaches the built-in
# `readwrite` (every bucket) that earlier versions of this script attached.
set -eu

policy="llf-lake-$LLF_LAKE_BUCKET"

lake_policy() {
    cat <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ListTheLakeBucket",
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
      "Resource": ["arn:aws:s3:::$LLF_LAKE_BUCKET"]
    },
    {
      "Sid": "ReadAndWriteItsObjects",
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": ["arn:aws:s3:::$LLF_LAKE_BUCKET/*"]
    }
  ]
}
JSON
}

mc alias set lake http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "lake/$LLF_LAKE_BUCKET"
mc admin user add lake "$LLF_MINIO_ACCESS_KEY" "$LLF_MINIO_SECRET_KEY"
lake_policy | mc admin policy create lake "$policy" /dev/stdin
attached=$(mc admin user info lake "$LLF_MINIO_ACCESS_KEY")
if echo "$attached" | grep -qw readwrite; then
    mc admin policy detach lake readwrite --user "$LLF_MINIO_ACCESS_KEY"
fi
if ! echo "$attached" | grep -q "$policy"; then
    mc admin policy attach lake "$policy" --user "$LLF_MINIO_ACCESS_KEY"
fi
echo "minio-init: bucket $LLF_LAKE_BUCKET ready for user $LLF_MINIO_ACCESS_KEY (policy $policy)"
