"""What an idle refresh of the secrets extension costs: the SDK's If-None-Match pull of an
unchanged environment, as the extension (sdk/src/strongroom_sdk/extension.py) makes it every
STRONGROOM_REFRESH_SECONDS.

    .venv/bin/python bench/extension_refresh.py [--refreshes 50] [--json]

Starts the embedded local stack in this process, creates an org, a project, 20 secrets in staging
and an aws_iam machine identity for a role of moto's IAM, signs in as that role (what the extension
does in a function), reads the environment once, then times `--refreshes` refreshes of the
unchanged environment: each should be one HTTP request answered 304, one DynamoDB request
server-side (the token's read-ahead batch), no KMS call and no decryption.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time

from harness import new_environment, server_work


def setup(url: str) -> str:
    slug, call = new_environment(url, {f"KEY_{i:02d}": secrets.token_urlsafe(40) for i in range(20)})
    rules = {"account": "123456789012", "role_arn": "arn:aws:iam::123456789012:role/bench-fn"}
    body = {"name": "fn", "type": "aws_iam", "project": "web", "environment": "staging", "rules": rules}
    return str(call("POST", f"/v1/orgs/{slug}/identities", body)["id"])


def _as_role() -> None:
    """The ambient credentials become a session of the role `bench-fn` (as a function's are)."""
    import boto3

    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    boto3.client("iam").create_role(RoleName="bench-fn", AssumeRolePolicyDocument=json.dumps(trust))
    assumed = boto3.client("sts").assume_role(RoleArn="arn:aws:iam::123456789012:role/bench-fn", RoleSessionName="fn")[
        "Credentials"
    ]
    os.environ["AWS_ACCESS_KEY_ID"] = assumed["AccessKeyId"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = assumed["SecretAccessKey"]
    os.environ["AWS_SESSION_TOKEN"] = assumed["SessionToken"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refreshes", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from strongroom_local import LocalStack
    from strongroom_sdk import Client, Identity

    with LocalStack("127.0.0.1", port=0, workers=[]) as stack:
        identity_id = setup(stack.url)
        from strongroom import aws

        aws.dynamodb()  # the stack's own client, made with its credentials before the role's are ambient
        aws.kms()
        _as_role()
        client = Client(stack.url, identity=Identity(identity_id, aws=True))
        client.secrets()  # sign-in and the first, full read
        client.secrets()  # the token's scope is now known to the warm function: the steady state
        before = (client.requests, client.not_modified)
        samples = []
        with server_work() as work:
            for _ in range(args.refreshes):
                started = time.perf_counter()
                client.secrets()
                samples.append(time.perf_counter() - started)
        requests, not_modified = client.requests - before[0], client.not_modified - before[1]
    result = {
        "refreshes": args.refreshes,
        "http_requests_per_refresh": requests / args.refreshes,
        "answered_304": not_modified,
        "median_ms": statistics.median(samples) * 1000,
        "server_per_refresh": {k: v / args.refreshes for k, v in work.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"idle refresh of an unchanged environment (20 secrets), {args.refreshes} refreshes, warm:")
    print(f"  HTTP requests per refresh: {result['http_requests_per_refresh']:.2f} ({not_modified} answered 304)")
    print(f"  median time per refresh:   {result['median_ms']:.1f} ms (local stack on moto)")
    per = result["server_per_refresh"]
    print(
        f"  server-side per refresh:   {per['dynamodb_requests']:.2f} DynamoDB requests, "
        f"{per['kms_calls']:.2f} KMS calls, {per['decrypts']:.2f} decryptions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
