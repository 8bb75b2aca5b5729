"""Key material of the sandbox: a local CA, the HTTPS server certificate, token signing keys and
client certificates for seeded identities. Generated on first start and kept in the state dir."""
import datetime
import hashlib
import base64
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def new_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def load_key(path):
    with open(path, "rb") as handle:
        return serialization.load_pem_private_key(handle.read(), password=None)


def load_cert(path):
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def thumbprint_sha1(cert):
    """Upper-case hex SHA-1 thumbprint, as the Entra portal shows it."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def x5t(cert):
    return b64url(cert.fingerprint(hashes.SHA1()))


def x5t_s256(cert):
    return b64url(cert.fingerprint(hashes.SHA256()))


def key_id(public_key):
    """Stable key id for a JWKS entry (like Entra's kid, derived from the key)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url(hashlib.sha256(der).digest()[:20])


def self_signed(key, common_name, days=365, not_before=None):
    start = not_before or (_now() - datetime.timedelta(minutes=5))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))


class Pki:
    """Files under <state>/pki; created once, reused on every later start."""

    def __init__(self, state_dir):
        self.dir = os.path.join(state_dir, "pki")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.ca_cert_path = os.path.join(self.dir, "ca.pem")
        self.ca_key_path = os.path.join(self.dir, "ca.key")
        self.server_cert_path = os.path.join(self.dir, "server.pem")
        self.server_key_path = os.path.join(self.dir, "server.key")
        self.signing_key_path = os.path.join(self.dir, "token-signing.key")
        self.signing_cert_path = os.path.join(self.dir, "token-signing.pem")
        self.issuer_key_path = os.path.join(self.dir, "workload-issuer.key")
        self._ensure()
        self.signing_key = load_key(self.signing_key_path)
        self.signing_cert = load_cert(self.signing_cert_path)
        self.signing_kid = key_id(self.signing_key.public_key())
        self.issuer_key = load_key(self.issuer_key_path)
        self.issuer_kid = key_id(self.issuer_key.public_key())

    def _ensure(self):
        if not os.path.exists(self.ca_cert_path):
            ca_key = new_key()
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailauth.m365 sandbox CA")])
            start = _now() - datetime.timedelta(minutes=5)
            ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                  .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                  .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
                  .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                  .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                               content_commitment=False, key_encipherment=False,
                                               data_encipherment=False, key_agreement=False,
                                               encipher_only=False, decipher_only=False), critical=True)
                  .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
                  .sign(ca_key, hashes.SHA256()))
            _write_private(self.ca_key_path, key_pem(ca_key))
            with open(self.ca_cert_path, "wb") as handle:
                handle.write(cert_pem(ca))
            for stale in (self.server_cert_path, self.server_key_path):
                if os.path.exists(stale):
                    os.unlink(stale)
        if not os.path.exists(self.server_cert_path):
            self._issue_server_cert()
        if not os.path.exists(self.signing_key_path):
            key = new_key()
            _write_private(self.signing_key_path, key_pem(key))
            with open(self.signing_cert_path, "wb") as handle:
                handle.write(cert_pem(self_signed(key, "accounts.sandbox.mailauth.invalid", days=3650)))
        if not os.path.exists(self.issuer_key_path):
            _write_private(self.issuer_key_path, key_pem(new_key()))

    def _issue_server_cert(self):
        ca_key = load_key(self.ca_key_path)
        ca = load_cert(self.ca_cert_path)
        key = new_key()
        start = _now() - datetime.timedelta(minutes=5)
        san = x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ])
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
                .issuer_name(ca.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=825))
                .add_extension(san, critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        _write_private(self.server_key_path, key_pem(key))
        with open(self.server_cert_path, "wb") as handle:
            handle.write(cert_pem(cert))

    def client_certificate(self, name, days=365):
        """A key pair and self-signed certificate for a seeded identity, as an admin would make one.

        Returns (combined_pem_path, key_path, cert_path); the combined file is what
        AZURE_CLIENT_CERTIFICATE_PATH expects (private key and certificate in one PEM)."""
        base = os.path.join(self.dir, name)
        combined, key_path, cert_path = base + ".pem", base + ".key", base + ".crt"
        if not os.path.exists(combined):
            key = new_key()
            cert = self_signed(key, name, days=days)
            _write_private(key_path, key_pem(key))
            with open(cert_path, "wb") as handle:
                handle.write(cert_pem(cert))
            _write_private(combined, key_pem(key) + cert_pem(cert))
        return combined, key_path, cert_path
