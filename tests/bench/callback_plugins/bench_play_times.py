# -*- coding: utf-8 -*-
# Benchmark-only callback: when each play of a run started and ended, so a benchmark can tell the
# tenant side of site.yml from its server side.
from __future__ import annotations

DOCUMENTATION = """
name: bench_play_times
type: aggregate
short_description: Start and end of each play as JSON (benchmarks only)
description:
  - Writes [{play, start, end}] (seconds since the epoch) to the file named by E(BENCH_PLAY_TIMES_FILE)
    when the run ends.
requirements:
  - enabled in callbacks_enabled
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_play_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.plays = []

    def _close(self):
        if self.plays and self.plays[-1]["end"] is None:
            self.plays[-1]["end"] = time.time()

    def v2_playbook_on_play_start(self, play):
        self._close()
        self.plays.append({"play": play.get_name(), "start": time.time(), "end": None})

    def v2_playbook_on_stats(self, stats):
        self._close()
        path = os.environ.get("BENCH_PLAY_TIMES_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(self.plays, handle)
