# -*- coding: utf-8 -*-
# A test-only callback: every task result, item result, retry and diff of a run as JSON lines, as a
# result-archiving callback (ansible.posix.json, AWX's event stream, ARA) receives them.
from __future__ import annotations

DOCUMENTATION = """
name: result_events
type: notification
short_description: Every result of a run as JSON lines (tests only)
description:
  - Appends each result event (its C(result) dict unchanged, and diffs) to the file named by
    E(RESULT_EVENTS_FILE), one JSON document per line.
requirements:
  - enabled in callbacks_enabled
"""

import json
import os

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "result_events"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, event, result, **extra):
        path = os.environ.get("RESULT_EVENTS_FILE")
        if not path:
            return
        record = {"event": event, "host": result.host.get_name(), "task": result.task.get_name(),
                  "result": result.result}
        record.update(extra)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, cls=AnsibleJSONEncoder, default=repr) + "\n")

    def v2_runner_on_ok(self, result):
        self._write("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("failed", result, ignore_errors=ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._write("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._write("unreachable", result)

    def v2_runner_item_on_ok(self, result):
        self._write("item_ok", result)

    def v2_runner_item_on_failed(self, result):
        self._write("item_failed", result)

    def v2_runner_item_on_skipped(self, result):
        self._write("item_skipped", result)

    def v2_runner_retry(self, result):
        self._write("retry", result)

    def v2_on_file_diff(self, result):
        self._write("diff", result)
