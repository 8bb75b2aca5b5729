# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Helpers for module unit tests that script Microsoft Graph: URLs with queries, error bodies, a fake
module for ``run()``, and running ``main()`` as Ansible does."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from ansible.module_utils.testing import patch_module_args

GRAPH = "https://graph.microsoft.com/v1.0"


def url(path, **query):
    """Absolute Graph URL of ``path``; keyword arguments become the query (``filter`` -> ``$filter``)."""
    address = "%s/%s" % (GRAPH, path.lstrip("/"))
    if query:
        address += "?" + urlencode([("$" + key, value) for key, value in query.items()], quote_via=quote)
    return address


def graph_error(code, message, request_id="req-1"):
    """Graph's error body."""
    return {"error": {"code": code, "message": message,
                      "innerError": {"request-id": request_id, "date": "2026-01-01T00:00:00"}}}


def body_of(sent):
    """The JSON body of a sent request."""
    return json.loads(sent.body) if sent.body else None


def last(transport, method, url_part=""):
    """The last request sent with ``method`` whose URL contains ``url_part``."""
    return [sent for sent in transport.sent if sent.method == method and url_part in sent.url][-1]


class FakeModule:
    """What run() may use of AnsibleModule: params, check_mode, warn."""

    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)


def run_main(main, args, capsys):
    """Run a module's ``main()`` as Ansible does; return its JSON result."""
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            main()
    return json.loads(capsys.readouterr().out)
