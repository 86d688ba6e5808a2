"""moto in server mode over HTTPS, with request authentication enforced.

Usage: moto_server.py CERT KEY CA LOG CREDS S3_ENDPOINTS

Serves on a free loopback port with the leaf CERT/KEY; the first three calls are let
through unauthenticated (INITIAL_NO_AUTH_ACTION_COUNT=3, set before moto is imported):
they create an IAM user with a policy allowing everything and an access key for it, which
is written to CREDS as JSON (the real key keyward holds). Every request that reaches moto
is appended to LOG as one JSON line (method, path, query, authorization's key id). Prints
`listening on PORT` once the key exists.
"""

import json
import os
import sys
import threading

os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
os.environ["MOTO_ALLOW_NONEXISTENT_REGION"] = "true"

from werkzeug.serving import make_server  # noqa: E402
from moto.server import DomainDispatcherApplication, create_backend_app  # noqa: E402
import boto3  # noqa: E402
from moto import settings as moto_settings  # noqa: E402

cert, key, ca, log_path, creds_path, endpoints = sys.argv[1:7]
# Path-style bucket addressing on the names the agent uses.
os.environ["MOTO_S3_CUSTOM_ENDPOINTS"] = endpoints
app = DomainDispatcherApplication(create_backend_app)
log_lock = threading.Lock()


def presigned_signature_holds(environ):
    """What AWS does with a presigned URL and moto does not when it enforces
    authentication: recompute its signature with the real key (botocore, at the URL's own
    X-Amz-Date) and compare."""
    from urllib.parse import parse_qsl, urlencode, quote
    from unittest import mock
    import datetime
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    with open(creds_path) as f:
        real = json.load(f)
    params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    given = dict(params)
    rest = [(k, v) for k, v in params if not k.startswith("X-Amz-")]
    host = environ.get("HTTP_HOST")
    url = f"https://{host}{quote(environ.get('PATH_INFO', ''))}"
    if rest:
        url += "?" + urlencode(rest)
    if given.get("X-Amz-Credential", "").split("/")[0] != real["AccessKeyId"]:
        return False
    when = datetime.datetime.strptime(given["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    request = AWSRequest(method=environ["REQUEST_METHOD"], url=url)
    region = given["X-Amz-Credential"].split("/")[2]
    creds = Credentials(real["AccessKeyId"], real["SecretAccessKey"])
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        S3SigV4QueryAuth(creds, "s3", region, expires=int(given["X-Amz-Expires"])).add_auth(request)
    ours = dict(parse_qsl(request.url.split("?", 1)[1]))
    return ours["X-Amz-Signature"] == given["X-Amz-Signature"]


def chunk_signatures_hold(environ, body):
    """Checks each chunk signature of a signed aws-chunked body with the real key, chained
    from the request's signature, as S3 does."""
    import hashlib
    import hmac

    with open(creds_path) as f:
        real = json.load(f)
    auth = environ.get("HTTP_AUTHORIZATION", "")
    fields = dict(p.strip().split("=", 1) for p in auth.split(" ", 1)[1].split(","))
    key_id, date, region, service, _ = fields["Credential"].split("/")
    if key_id != real["AccessKeyId"]:
        return False
    scope = f"{date}/{region}/{service}/aws4_request"
    ts = environ["HTTP_X_AMZ_DATE"]
    mac = lambda k, m: hmac.new(k, m.encode(), hashlib.sha256).digest()  # noqa: E731
    secret = real["SecretAccessKey"]
    signing = mac(mac(mac(mac(("AWS4" + secret).encode(), date), region), service), "aws4_request")
    previous, rest = fields["Signature"], body
    while True:
        line, rest = rest.split(b"\r\n", 1)
        size, sig = line.decode().split(";chunk-signature=")
        data, rest = rest[: int(size, 16)], rest[int(size, 16) + 2 :]
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", ts, scope, previous,
             hashlib.sha256(b"").hexdigest(), hashlib.sha256(data).hexdigest()]
        )
        previous = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
        if previous != sig:
            return False
        if not data:
            return not rest


def counting(environ, start_response):
    """Records each request, then hands it to moto (a presigned URL only once its
    signature is checked)."""
    entry = {
        "method": environ.get("REQUEST_METHOD"),
        "path": environ.get("PATH_INFO"),
        "query": environ.get("QUERY_STRING"),
        "authorization": environ.get("HTTP_AUTHORIZATION", ""),
        "content_sha256": environ.get("HTTP_X_AMZ_CONTENT_SHA256", ""),
        "content_encoding": environ.get("HTTP_CONTENT_ENCODING", ""),
    }
    if entry["content_sha256"] == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
        import io

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        entry["chunk_signatures_hold"] = chunk_signatures_hold(environ, body)
    presigned = "X-Amz-Signature=" in (entry["query"] or "") and not entry["authorization"]
    if presigned:
        entry["presigned_signature_holds"] = presigned_signature_holds(environ)
    with log_lock, open(log_path, "a") as log:
        log.write(json.dumps(entry) + "\n")
    if not presigned:
        return app(environ, start_response)
    if not entry["presigned_signature_holds"]:
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"SignatureDoesNotMatch"]
    # Checked above: let moto serve it without its own (header-only) check.
    with log_lock:
        saved = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        try:
            return list(app(environ, start_response))
        finally:
            moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = saved


server = make_server("127.0.0.1", 0, counting, threaded=True, ssl_context=(cert, key))
port = server.server_port
threading.Thread(target=server.serve_forever, daemon=True).start()

endpoint = f"https://127.0.0.1:{port}"
iam = boto3.client(
    "iam",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="bootstrap",
    aws_secret_access_key="bootstrap",
    verify=ca,
)
iam.create_user(UserName="agent")
iam.put_user_policy(
    UserName="agent",
    PolicyName="everything",
    PolicyDocument=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
    ),
)
access = iam.create_access_key(UserName="agent")["AccessKey"]
with open(creds_path, "w") as f:
    json.dump(
        {
            "AccessKeyId": access["AccessKeyId"],
            "SecretAccessKey": access["SecretAccessKey"],
        },
        f,
    )
print(f"listening on {port}", flush=True)
threading.Event().wait()
