"""Client secrets and certificates of applications, as Graph manages them.

Secrets are made by the service (addPassword) and shown once; only a hash stays, in
`_secretHashes[keyId]`, which the identity service checks. Certificates come in through PATCH of the
whole `keyCredentials` list or through addKey with a proof of possession signed by a certificate
the application already has."""
import base64
import binascii
import datetime

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .. import directory as d
from .errors import GraphError, bad_request, not_found, read_only
from .odata import is_guid

DEFAULT_SECRET_LIFETIME = datetime.timedelta(days=730)  # Graph's default: two years
PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"  # what Graph requires as `aud` of an addKey/removeKey proof
KEY_TYPES = ("AsymmetricX509Cert", "X509CertAndPassword")
KEY_USAGES = ("Verify", "Sign")


def add_password(doc, body):
    """New secret on `doc` (application or service principal); returns the credential with secretText."""
    spec = body.get("passwordCredential") or {}
    if not isinstance(spec, dict):
        raise bad_request("Invalid value for parameter 'passwordCredential'.")
    for name in ("keyId", "secretText", "hint", "customKeyIdentifier"):
        if spec.get(name) is not None:
            raise read_only(name)
    start = _moment(spec, "startDateTime") or d.now()
    end = _moment(spec, "endDateTime") or start + DEFAULT_SECRET_LIFETIME
    if end <= start:
        raise bad_request("Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.")
    cred, secret = d.password_credential(spec.get("displayName"), end, start)
    doc.setdefault("passwordCredentials", []).append(cred)
    doc.setdefault("_secretHashes", {})[cred["keyId"]] = d.hash_secret(secret)
    return dict(cred, secretText=secret)


def remove_password(doc, body):
    key_id = _key_id(body)
    remaining = [c for c in doc.get("passwordCredentials", []) if c["keyId"] != key_id]
    if len(remaining) == len(doc.get("passwordCredentials", [])):
        raise not_found(key_id)
    doc["passwordCredentials"] = remaining
    doc.get("_secretHashes", {}).pop(key_id, None)


def _key_id(body):
    key_id = (body or {}).get("keyId")
    if not key_id:
        raise bad_request("The parameter 'keyId' is required.")
    if not is_guid(key_id):
        raise GraphError(400, "BadRequest", "Cannot convert the literal '%s' to the expected type 'Edm.Guid'." % key_id)
    return key_id.lower()


def _moment(spec, name):
    try:
        return d.parse_iso(spec.get(name))
    except (ValueError, TypeError):
        raise GraphError(400, "BadRequest", "Cannot convert the literal '%s' to the expected type 'Edm.DateTimeOffset'."
                         % spec.get(name))


# --- certificates ------------------------------------------------------------------------------
def load_certificate(value):
    """The certificate in a keyCredential's `key`: base64 of DER (or of PEM text, which Graph also takes)."""
    try:
        raw = base64.b64decode(value, validate=True)
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(raw.strip())
        return x509.load_der_x509_certificate(raw)
    except (binascii.Error, ValueError, TypeError):
        raise bad_request("Invalid certificate: Key value is invalid certificate")


def _new_key_credential(item, cert):
    der = cert.public_bytes(serialization.Encoding.DER)
    start = _moment(item, "startDateTime") or cert.not_valid_before_utc
    end = _moment(item, "endDateTime") or cert.not_valid_after_utc
    if start < cert.not_valid_before_utc - datetime.timedelta(minutes=1) or end > cert.not_valid_after_utc + datetime.timedelta(minutes=1):
        raise bad_request("Key credential start date and end date must be within the validity period of the certificate.")
    return {
        "customKeyIdentifier": item.get("customKeyIdentifier") or base64.b64encode(cert.fingerprint(hashes.SHA1())).decode(),
        "displayName": item.get("displayName") or cert.subject.rfc4514_string(),
        "endDateTime": d.iso(end), "key": base64.b64encode(der).decode(),
        "keyId": (item.get("keyId") or d.new_id()).lower(), "startDateTime": d.iso(start),
        "type": item["type"], "usage": item["usage"],
    }


def replace_key_credentials(doc, items):
    """PATCH semantics: the list replaces what is there. An entry naming an existing keyId without a `key`
    (as GET returns it) keeps that credential; changing an existing one is refused as Graph does."""
    existing = {k["keyId"]: k for k in doc.get("keyCredentials", [])}
    result = []
    for item in items:
        key_id = (item.get("keyId") or "").lower()
        old = existing.get(key_id)
        if item.get("key") is None:
            if old is None:
                raise bad_request("Key credential must have a key value.")
            result.append(old)
            continue
        cert = load_certificate(item["key"])
        if old is not None:
            if old["key"] != base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode():
                raise bad_request("Update to existing credential with KeyId '%s' is not allowed." % key_id)
            result.append(old)
            continue
        if item.get("type") not in KEY_TYPES or item.get("usage") not in KEY_USAGES:
            raise bad_request("Key credential type must be one of %s and usage one of %s." % (", ".join(KEY_TYPES), ", ".join(KEY_USAGES)))
        result.append(_new_key_credential(item, cert))
    if len({c["keyId"] for c in result}) != len(result):
        raise bad_request("Duplicate keyId in keyCredentials.")
    doc["keyCredentials"] = result


def check_proof(doc, proof):
    """addKey/removeKey need a JWT signed with a certificate the object already has: iss = the object's id,
    aud = 00000002-0000-0000-c000-000000000000, valid for at most 10 minutes."""
    if not proof:
        raise bad_request("The parameter 'proof' is required.")
    now = d.now()
    for cred in doc.get("keyCredentials", []):
        if cred.get("usage") != "Verify" or d.parse_iso(cred["endDateTime"]) < now:
            continue
        public_key = load_certificate(cred["key"]).public_key()
        try:
            claims = jwt.decode(proof, public_key, algorithms=["RS256"], audience=PROOF_AUDIENCE,
                                options={"require": ["aud", "iss", "nbf", "exp"]})
        except jwt.PyJWTError:
            continue
        if claims["iss"] == doc["id"] and claims["exp"] - claims["nbf"] <= 600:
            return
    raise GraphError(401, "Authentication_MissingOrMalformed", "Proof of possession token is invalid or expired.")


def add_key(doc, body):
    check_proof(doc, body.get("proof"))
    item = body.get("keyCredential")
    if not isinstance(item, dict) or not item.get("key"):
        raise bad_request("The parameter 'keyCredential' is required.")
    if item.get("keyId"):
        raise read_only("keyId")
    replace_key_credentials(doc, doc.get("keyCredentials", []) + [dict(item, keyId=None)])
    return dict(doc["keyCredentials"][-1], key=None)


def remove_key(doc, body):
    key_id = _key_id(body)
    check_proof(doc, body.get("proof"))
    remaining = [k for k in doc.get("keyCredentials", []) if k["keyId"] != key_id]
    if len(remaining) == len(doc.get("keyCredentials", [])):
        raise not_found(key_id)
    doc["keyCredentials"] = remaining
