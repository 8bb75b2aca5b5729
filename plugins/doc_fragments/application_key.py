# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The options by which a module names an existing app registration (APPLICATION_KEY_OPTIONS in _graph.py)."""

    DOCUMENTATION = r"""
options:
  app_id:
    description:
      - The application (client) ID of the app registration, as the portal's Overview page shows it.
      - Exactly one of O(app_id), O(unique_name) and O(app_object_id) is required.
    type: str
  unique_name:
    description:
      - The app registration's C(uniqueName), the key that M(mailauth.m365.app_registration) can create it by.
    type: str
  app_object_id:
    description:
      - The object ID of the app registration (not of its enterprise application / service principal).
    type: str
"""
