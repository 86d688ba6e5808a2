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


def signed_chunks_put(key, chunks, secret=None):
    """A PUT in the signed aws-chunked form (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), which
    botocore does not send over HTTPS: signed by hand, as other SDKs do, with the
    placeholder key pair."""
    import datetime
    import hashlib
    import hmac

    secret = secret or os.environ["AWS_SECRET_ACCESS_KEY"]
    key_id, token = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SESSION_TOKEN"]
    now = datetime.datetime.now(datetime.timezone.utc)
    ts, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{date}/us-east-1/s3/aws4_request"
    host = endpoint.split("://", 1)[1]
    path = f"/agent-bucket/{key}"
    decoded = sum(len(c) for c in chunks)
    headers = {
        "content-encoding": "aws-chunked",
        "host": host,
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "x-amz-date": ts,
        "x-amz-decoded-content-length": str(decoded),
        "x-amz-security-token": token,
    }
    names = sorted(headers)
    canonical = "\n".join(
        ["PUT", path, "", "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names),
         "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"]
    )
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    mac = lambda k, m: hmac.new(k, m.encode(), hashlib.sha256).digest()  # noqa: E731
    signing = mac(mac(mac(mac(("AWS4" + secret).encode(), date), "us-east-1"), "s3"), "aws4_request")
    to_sign = f"AWS4-HMAC-SHA256\n{ts}\n{scope}\n{sha(canonical.encode())}"
    previous = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={';'.join(names)}, Signature={previous}"
    body = b""
    for data in list(chunks) + [b""]:
        chunk_to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", ts, scope, previous, sha(b""), sha(data)]
        )
        previous = hmac.new(signing, chunk_to_sign.encode(), hashlib.sha256).hexdigest()
        body += f"{len(data):x};chunk-signature={previous}\r\n".encode() + data + b"\r\n"
    sent = {k: v for k, v in headers.items() if k != "host"}
    sent["authorization"] = auth
    r = requests.put(endpoint + path, data=body, headers=sent, timeout=20)
    return r.status_code


step("signed_chunks_put", lambda: signed_chunks_put("chunked.txt", [b"signed " * 1000, b"chunks\n"]))
step("signed_chunks_get", lambda: s3.get_object(Bucket="agent-bucket", Key="chunked.txt")["Body"].read().decode()[-14:])
step("signed_chunks_forged", lambda: signed_chunks_put("forged-chunks.txt", [b"x"], secret="another-secret-key"))
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
