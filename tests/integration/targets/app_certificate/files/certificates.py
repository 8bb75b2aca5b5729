# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper of the app_certificate integration target, run with the controller's Python.

``make DIR``: write the certificates the target uses and print their facts as JSON.
``sign-in``: sign in with a certificate by client credentials (MSAL, as a mail server would) and print
whether a token came back, retrying while Entra may still be replicating the new credential.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import os
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def certificate(common_name, not_before_days, valid_days):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=not_before_days)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=valid_days)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert


def write(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def make(directory):
    facts = {}
    for label, common_name, not_before, days in (("existing", "it-app-certificate existing", -1, 90),
                                                 ("new", "it-app-certificate new", -1, 60),
                                                 ("expired", "it-app-certificate expired", -40, 30)):
        key_pem, cert = certificate(common_name, not_before, days)
        der = cert.public_bytes(serialization.Encoding.DER)
        cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        # Private key and certificate in one file, as many tools write them: the module must send neither key.
        write(os.path.join(directory, label + ".pem"), key_pem + cert_pem)
        write(os.path.join(directory, label + ".crt"), cert_pem)
        facts[label] = {"path": os.path.join(directory, label + ".pem"), "cert_path": os.path.join(directory, label + ".crt"),
                        "thumbprint": hashlib.sha1(der).hexdigest().upper(),
                        "key": base64.b64encode(der).decode(), "subject": "CN=" + common_name}
    print(json.dumps(facts))


def sign_in(args):
    import msal
    import requests

    session = requests.Session()
    session.verify = args.ca
    session.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the sandbox CA
    with open(args.pem, encoding="utf-8") as handle:
        pem = handle.read()
    answer = {}
    for _attempt in range(args.attempts):
        # A new MSAL object each time: MSAL remembers a refused token request for about a minute.
        app = msal.ConfidentialClientApplication(
            args.client_id, authority=args.authority, http_client=session, instance_discovery=False,
            client_credential={"private_key": pem, "thumbprint": args.thumbprint})
        answer = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
        if "access_token" in answer:
            print(json.dumps({"signed_in": True}))
            return 0
        time.sleep(2)  # a new credential or service principal may still be replicating
    print(json.dumps({"signed_in": False, "error": answer.get("error"), "error_codes": answer.get("error_codes")}))
    return 1


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("make").add_argument("directory")
    signing = commands.add_parser("sign-in")
    for option in ("--authority", "--client-id", "--pem", "--thumbprint", "--ca"):
        signing.add_argument(option, required=True)
    signing.add_argument("--attempts", type=int, default=15)
    args = parser.parse_args()
    if args.command == "make":
        make(args.directory)
        return 0
    return sign_in(args)


if __name__ == "__main__":
    sys.exit(main())
