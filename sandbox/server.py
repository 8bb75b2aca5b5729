"""Assembles one sandbox process: key material, state, the HTTPS services and connection.json."""
import json
import os
import signal
import threading

from . import seed as seed_mod
from . import tokens as tokens_mod
from .control import ControlService
from .directory import Directory
from .exchange import ExchangeService
from .graph import GraphService
from .identity import IdentityService
from .pki import Pki
from .runtime import Context
from .smtp import MailService
from .store import Store
from .web import server_ssl_context, start_service

SERVICE_CLASSES = (("identity", IdentityService), ("graph", GraphService), ("exchange", ExchangeService))
GRAPH_RESOURCE = "https://graph.microsoft.com"
EXCHANGE_RESOURCE = "https://outlook.office365.com"


class Sandbox:
    def __init__(self, state_dir, host="127.0.0.1"):
        self.state_dir = os.path.abspath(state_dir)
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        self.host = host
        self.pki = Pki(self.state_dir)
        self.store = Store(os.path.join(self.state_dir, "state.db"))
        self.ctx = Context(self.state_dir, self.store, self.pki)
        self.ctx.directory = Directory(self.store)
        self.ctx.tokens = tokens_mod.TokenService(self.ctx)
        self.ctx.control = ControlService(self.ctx, self)
        self.servers = {}
        self.mail = None
        self.stopped = threading.Event()
        if not self.store.kv_get("credentials"):
            seed_mod.apply_seed(self.store, self.pki)

    @property
    def connection_path(self):
        return os.path.join(self.state_dir, "connection.json")

    def _previous_ports(self):
        try:
            with open(self.connection_path, encoding="utf-8") as handle:
                return json.load(handle).get("ports", {})
        except (OSError, ValueError):
            return {}

    def start(self):
        ports = self._previous_ports()
        context = server_ssl_context(self.pki)
        for name, cls in SERVICE_CLASSES:
            service = cls(self.ctx)
            self.ctx.services[name] = service
            server = start_service(service, self.ctx.control, self.host, ports.get(name, 0), context)
            self.servers[name] = server
            self.ctx.urls[name] = "https://%s:%d" % (self.host, server.server_port)
        self.mail = MailService(self.ctx)
        self.servers.update(self.mail.start(self.host, ports, context))
        self.write_connection()
        return self

    def reseed(self):
        extra = self.store.kv_get("extra_tenants") or 0  # tenants added with add_tenants survive a reset
        with self.store.transaction():
            self.store.wipe()
            seed_mod.apply_seed(self.store, self.pki, extra_tenants=extra)
        self.write_connection()

    def add_tenants(self, count):
        """Extra tenants tenant001..tenant<count>, each like the seed's first; returns the new keys."""
        added = seed_mod.add_extra_tenants(self.store, self.pki, count)
        self.write_connection()
        return added

    def _federated_token_file(self, key, subject):
        path = os.path.join(self.state_dir, "tenants", key)
        os.makedirs(path, mode=0o700, exist_ok=True)
        token_path = os.path.join(path, "federated-token.jwt")
        token = tokens_mod.mint_workload_token(self.pki, self.store.kv_get("workload_issuer"), subject)
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token)
        return token_path

    def connection_info(self):
        credentials = self.store.kv_get("credentials") or {}
        tenants = []
        for tenant in self.ctx.directory.tenants():
            creds = dict(credentials.get(tenant["key"], {}))
            users = creds.pop("users", {})
            clients = creds.pop("clients", {})
            creds["federated_token_file"] = self._federated_token_file(tenant["key"], creds.get("federated_subject", ""))
            tenants.append({"key": tenant["key"], "id": tenant["id"], "display_name": tenant["displayName"],
                            "default_domain": tenant["defaultDomain"], "initial_domain": tenant["initialDomain"],
                            "domains": tenant["domains"], "automation": creds, "users": users,
                            "clients": clients})
        return {
            "authority_host": self.ctx.urls.get("identity"),
            "graph_endpoint": self.ctx.urls.get("graph"),
            "exchange_endpoint": self.ctx.urls.get("exchange"),
            "graph_resource": GRAPH_RESOURCE,
            "exchange_resource": EXCHANGE_RESOURCE,
            **(self.mail.connection_info(self.host) if self.mail else {}),
            "ca_bundle": self.pki.ca_cert_path,
            "control_url": "%s/_sandbox" % self.ctx.urls.get("identity"),
            "workload_issuer": self.store.kv_get("workload_issuer"),
            "ports": {name: server.server_port for name, server in self.servers.items()},
            "pid": os.getpid(),
            "state_dir": self.state_dir,
            "tenants": tenants,
        }

    def write_connection(self):
        seed_mod.dump_json(self.connection_path, self.connection_info())

    def serve_forever(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopped.set())
        self.stopped.wait()
        self.stop()

    def stop(self):
        for server in self.servers.values():
            server.shutdown()
            server.server_close()
        self.store.close()
