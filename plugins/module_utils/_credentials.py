# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Helpers for the credentials of applications (client secrets, certificates): Graph date-times,
lifetimes and end dates, public certificates read from PEM, and thumbprints.

Nothing here talks to a service. Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections import namedtuple
from datetime import datetime, timedelta, timezone

# _auth finds out once whether cryptography is there (certificate sign-in needs it too).
from ansible_collections.mailauth.m365.plugins.module_utils._auth import HAS_CRYPTOGRAPHY
from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError

if HAS_CRYPTOGRAPHY:
    from cryptography import x509

# The Entra portal offers client secrets of at most 24 months ("Never expire" is gone; TrueChem guide).
MAX_SECRET_MONTHS = 24
MAX_SECRET_DAYS = 730
DEFAULT_SECRET_DAYS = 730

# ISO 8601 as users write it and as Graph returns it (Graph may send 7 fractional digits).
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
                  r"\s*(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)


def utc_now():
    return datetime.now(timezone.utc)


def parse_datetime(value):
    """An aware UTC ``datetime`` from ISO 8601 text (a date alone is midnight UTC); None for None/empty.

    Raises ``ValueError`` for anything else. Written out because ``datetime.fromisoformat`` of older
    Pythons rejects ``Z`` and Graph's seven fractional digits.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    match = _ISO.match(str(value).strip())
    if not match:
        raise ValueError("not an ISO 8601 date or date-time: %r" % (value,))
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro)
    offset = timedelta(0)
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return (moment - offset).replace(tzinfo=timezone.utc)


def format_datetime(moment):
    """``2028-08-20T10:00:00Z``: the form Graph takes for ``endDateTime``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def expires_in_days(end, now=None):
    """Whole days until ``end`` (Graph text or datetime); negative once it has passed, None when unknown."""
    if isinstance(end, str):
        end = parse_datetime(end)
    if end is None:
        return None
    return int((end - (now or utc_now())).total_seconds() // 86400)


def add_months(moment, months):
    """``moment`` plus calendar months, the day clamped to the target month's length (31 Jan + 1 = 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    next_month = datetime(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def secret_end_date(end_date=None, lifetime_days=None, now=None):
    """The end date-time of a new client secret from ``end_date`` or ``lifetime_days`` (default two years).

    Enforces the portal's rules: in the future, at most 24 months away. ``ParameterError`` names the option.
    """
    now = now or utc_now()
    if end_date is not None:
        try:
            end = parse_datetime(end_date)
        except ValueError:
            raise ParameterError("end_date", "%r is not an ISO 8601 date or date-time." % end_date,
                                 "Write it as 2027-06-30 or 2027-06-30T12:00:00Z (quote it in YAML).") from None
        if end is None:
            raise ParameterError("end_date", "is empty.", "Give a date, or use lifetime_days.")
        if end <= now:
            raise ParameterError("end_date", "%s is in the past." % format_datetime(end),
                                 "Give a future date, or use lifetime_days.")
        if end > add_months(now, MAX_SECRET_MONTHS):
            raise ParameterError("end_date", "%s is more than %d months away." % (format_datetime(end), MAX_SECRET_MONTHS),
                                 "Entra allows client secrets of at most 24 months: choose an earlier date "
                                 "and rotate with rotate_before_days.")
        return end
    days = DEFAULT_SECRET_DAYS if lifetime_days is None else lifetime_days
    if days < 1:
        raise ParameterError("lifetime_days", "must be at least 1, got %d." % days)
    if days > MAX_SECRET_DAYS:
        raise ParameterError("lifetime_days", "%d days is more than 24 months." % days,
                             "Entra allows client secrets of at most 24 months (%d days): lower it and rotate "
                             "with rotate_before_days." % MAX_SECRET_DAYS)
    return now + timedelta(days=days)


class PublicCertificate(namedtuple("PublicCertificate", "der thumbprint subject not_before not_after had_private_key")):
    """The public part of an X.509 certificate: DER bytes, SHA-1 thumbprint (hex, upper case, as the portal
    shows it), subject (RFC 4514), validity (aware datetimes) and whether its PEM also held a private key."""

    __slots__ = ()

    @property
    def key_base64(self):
        """The ``key`` of a Graph keyCredential: base64 of the DER certificate."""
        return base64.b64encode(self.der).decode("ascii")

    @property
    def custom_key_identifier(self):
        """The ``customKeyIdentifier`` the portal sets: base64 of the SHA-1 thumbprint."""
        return base64.b64encode(binascii.unhexlify(self.thumbprint)).decode("ascii")


def read_pem_certificate(data, option, source=None):
    """The first certificate of PEM ``data`` (bytes or text) as a ``PublicCertificate``.

    A private key in the same PEM is ignored (and reported in ``had_private_key``); it is never parsed.
    ``option`` and ``source`` (a file name) go into the ``ParameterError`` raised for unusable input.
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    where = (" in %s" % source) if source else ""
    match = _PEM_CERTIFICATE.search(data)
    if not match:
        raise ParameterError(option, "found no PEM certificate (-----BEGIN CERTIFICATE-----)%s." % where,
                             "Give the public certificate in PEM form; convert DER or PFX with openssl first.")
    try:
        der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise ParameterError(option, "the PEM certificate%s cannot be read." % where,
                             "Check that the file is a complete, unmodified PEM certificate.") from None
    return PublicCertificate(
        der=der,
        thumbprint=hashlib.sha1(der).hexdigest().upper(),  # nosec - SHA-1 is what the thumbprint is defined as
        subject=cert.subject.rfc4514_string(),
        not_before=_aware(getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before),
        not_after=_aware(getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after),
        had_private_key=b"PRIVATE KEY-----" in data,
    )


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def normalize_thumbprint(value, option="thumbprint"):
    """Hex SHA-1 thumbprint in upper case, from text with or without colons or spaces."""
    text = re.sub(r"[\s:]", "", str(value or ""))
    if not re.match(r"^[0-9a-fA-F]{40}$", text):
        raise ParameterError(option, "%r is not a SHA-1 thumbprint (40 hexadecimal digits)." % value,
                             "Copy the thumbprint shown under Certificates & secrets.")
    return text.upper()


def key_credential_thumbprint(credential):
    """SHA-1 thumbprint (hex, upper case) of a Graph keyCredential, or None when it cannot be told.

    The certificate in ``key`` (base64 of DER, or of PEM) is authoritative; without it (Graph returns
    ``key`` only on a single-object read with ``$select=keyCredentials``), ``customKeyIdentifier``,
    which the portal sets to the thumbprint, is used when it has the thumbprint's length.
    """
    key = credential.get("key")
    if key:
        try:
            raw = base64.b64decode(key)
            pem = _PEM_CERTIFICATE.search(raw)
            der = base64.b64decode(b"".join(pem.group(1).split())) if pem else raw
            return hashlib.sha1(der).hexdigest().upper()  # nosec - the thumbprint is SHA-1 by definition
        except (binascii.Error, ValueError):
            pass
    identifier = credential.get("customKeyIdentifier")
    if identifier:
        try:
            raw = base64.b64decode(identifier)
        except (binascii.Error, ValueError):
            return None
        if len(raw) == 20:
            return raw.hex().upper()
    return None


def credential_record(credential, now=None):
    """A Graph passwordCredential or keyCredential -> the metadata modules return; never a value or key.

    Key credentials (those with a ``type``) also get ``thumbprint``, ``type`` and ``usage``;
    password credentials get the ``hint`` (the first characters of the value, as the portal shows).
    """
    now = now or utc_now()
    days = expires_in_days(credential.get("endDateTime"), now)
    record = dict(key_id=credential.get("keyId"), display_name=credential.get("displayName"),
                  start_date_time=credential.get("startDateTime"), end_date_time=credential.get("endDateTime"),
                  expires_in_days=days, expired=days is not None and parse_datetime(credential["endDateTime"]) <= now)
    if "type" in credential or "usage" in credential:
        record.update(thumbprint=key_credential_thumbprint(credential), type=credential.get("type"),
                      usage=credential.get("usage"))
    else:
        record["hint"] = credential.get("hint")
    return record
