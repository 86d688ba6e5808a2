"""An agent using AWS through keyward, unchanged: boto3 and the AWS CLI with the
placeholder keys `keyward run` set, against ENDPOINT (mapped to moto by keyward).

Usage: client.py ENDPOINT OTHER_ENDPOINT

Prints one JSON line per step: {"step": NAME, "value": ...} or {"step": NAME, "error": ...}.
"""

import json
import os
import subprocess
import sys

import boto3
import requests
from botocore.config import Config

endpoint, other = sys.argv[1:3]
config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})


def step(name, fn):
    try:
        value = fn()
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        print(json.dumps({"step": name, "error": str(e)}), flush=True)
        return
    print(json.dumps({"step": name, "value": value}), flush=True)


def client(service, url=endpoint, **keys):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", config=config, **keys)


s3 = client("s3")
sts = client("sts")
step("env", lambda: {k: v for k, v in os.environ.items() if k.startswith("AWS_")})
step("create_bucket", lambda: s3.create_bucket(Bucket="agent-bucket")["ResponseMetadata"]["HTTPStatusCode"])
step("list_buckets", lambda: [b["Name"] for b in s3.list_buckets()["Buckets"]])
step(
    "put_object",
    lambda: s3.put_object(Bucket="agent-bucket", Key="notes/hello.txt", Body=b"hello through keyward\n" * 100)[
        "ResponseMetadata"
    ]["HTTPStatusCode"],
)
step("get_object", lambda: s3.get_object(Bucket="agent-bucket", Key="notes/hello.txt")["Body"].read().decode()[:22])
step("caller_identity", lambda: sts.get_caller_identity()["Arn"])
step("session_token_denied", lambda: sts.get_session_token()["Credentials"]["AccessKeyId"])
# SigV4 presigning (botocore presigns S3 URLs with SigV2 unless told).
presigner = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    config=config.merge(Config(signature_version="s3v4")),
)
url = presigner.generate_presigned_url("get_object", Params={"Bucket": "agent-bucket", "Key": "notes/hello.txt"}, ExpiresIn=300)
step("presigned_get", lambda: [requests.get(url, timeout=20).status_code, requests.get(url, timeout=20).text[:22]])
forged = client(
    "s3",
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key="not-the-placeholder-secret-key",
    aws_session_token=os.environ["AWS_SESSION_TOKEN"],
)
step("wrong_secret", lambda: forged.create_bucket(Bucket="forged-bucket")["ResponseMetadata"]["HTTPStatusCode"])
elsewhere = client("s3", url=other)
step("other_host", lambda: elsewhere.create_bucket(Bucket="elsewhere-bucket")["ResponseMetadata"]["HTTPStatusCode"])


def cli(*args):
    out = subprocess.run(
        ["aws", "--endpoint-url", endpoint, "--region", "us-east-1", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return out.stdout


def cli_round_trip():
    with open("upload.txt", "w") as f:
        f.write("from the aws cli\n")
    cli("s3", "cp", "upload.txt", "s3://agent-bucket/cli/upload.txt")
    return cli("s3", "cp", "s3://agent-bucket/cli/upload.txt", "-").strip()


step("cli_round_trip", cli_round_trip)
step("cli_caller_identity", lambda: json.loads(cli("sts", "get-caller-identity"))["Arn"])
