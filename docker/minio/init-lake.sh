#!/bin/sh
# One-shot (service minio-init): the lake bucket and two users, whose policies reach that bucket only.
#   - llf (LLF_MINIO_ACCESS_KEY), the runner's: list the bucket, read and write its objects (multipart uploads
#     included). No other bucket, no bucket settings or policies, no deletes (llf's lake never deletes; a run's
#     outputs stay). So llf never holds the MinIO root credentials, and its credentials open nothing but the lake.
#     Notebook kernels never get this key: for each run the runner asks MinIO's STS (AssumeRole, signed with it)
#     for a temporary key narrowed by a session policy to streams/<stream>/ (llf/services/lake/stream_keys.py).
#     MinIO grants the intersection of this policy and the session's; no admin right and no user per stream.
#   - the control-plane UI's (LLF_UI_MINIO_ACCESS_KEY): get objects under runs/ and nothing else: no listing, no
#     write, no other prefix. The UI streams run outputs by key (llf/ui/routes/outputs.py) and lists nothing; MinIO
#     answers a missing key the user may get with NoSuchKey, so a missing output is still a 404.
# Idempotent; it also detaches the built-in `readwrite` (every bucket) that earlier versions attached to llf.
set -eu

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

ui_policy() {
    cat <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ReadRunOutputs",
      "Effect": "Allow",
      "Action": ["s3:GetObject"],
      "Resource": ["arn:aws:s3:::$LLF_LAKE_BUCKET/runs/*"]
    }
  ]
}
JSON
}

# user_with_policy ACCESS_KEY SECRET_KEY POLICY_NAME POLICY_FUNCTION: the user, with the policy the function
# prints attached (and nothing broader: `readwrite` is detached).
user_with_policy() {
    mc admin user add lake "$1" "$2"
    "$4" | mc admin policy create lake "$3" /dev/stdin
    attached=$(mc admin user info lake "$1")
    if echo "$attached" | grep -qw readwrite; then
        mc admin policy detach lake readwrite --user "$1"
    fi
    if ! echo "$attached" | grep -q "$3"; then
        mc admin policy attach lake "$3" --user "$1"
    fi
}

if [ "$LLF_UI_MINIO_ACCESS_KEY" = "$LLF_MINIO_ACCESS_KEY" ]; then
    echo "minio-init: LLF_UI_MINIO_ACCESS_KEY must be a user of its own, not LLF_MINIO_ACCESS_KEY: the UI would get llf's rights." >&2
    exit 1
fi

mc alias set lake http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "lake/$LLF_LAKE_BUCKET"
user_with_policy "$LLF_MINIO_ACCESS_KEY" "$LLF_MINIO_SECRET_KEY" "llf-lake-$LLF_LAKE_BUCKET" lake_policy
user_with_policy "$LLF_UI_MINIO_ACCESS_KEY" "$LLF_UI_MINIO_SECRET_KEY" "llf-ui-$LLF_LAKE_BUCKET" ui_policy
echo "minio-init: bucket $LLF_LAKE_BUCKET ready for user $LLF_MINIO_ACCESS_KEY (policy llf-lake-$LLF_LAKE_BUCKET)" \
     "and the UI's read-only user $LLF_UI_MINIO_ACCESS_KEY (policy llf-ui-$LLF_LAKE_BUCKET)"
