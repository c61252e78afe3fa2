"""A moto S3 server that checks credentials, in its own process.

moto enforces IAM authentication through process-wide settings, so this runs apart from the
suite's permissive server. It creates one IAM user allowed s3:* and one bucket, then switches
authentication on, prints one JSON line (endpoint, the user's key id and secret, the bucket) and
serves until its stdin closes: when the test process ends, so does this one.

Run: python -m tests.storage.moto_auth_server
"""

from __future__ import annotations

import json
import logging
import sys


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    import boto3
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    setup = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    iam = boto3.client("iam", aws_access_key_id="setup", aws_secret_access_key="setup-only", **setup)
    iam.create_user(UserName="uploader")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="uploader", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="uploader")["AccessKey"]
    s3 = boto3.client(
        "s3", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], **setup
    )
    s3.create_bucket(Bucket="guarded-bucket")
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    line = {
        "endpoint": endpoint,
        "key_id": key["AccessKeyId"],
        "secret": key["SecretAccessKey"],
        "bucket": "guarded-bucket",
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # returns when the parent closes the pipe or exits
    server.stop()


if __name__ == "__main__":
    main()
