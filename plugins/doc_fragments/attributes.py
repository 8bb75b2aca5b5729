# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Attributes of mailauth.m365 modules.

    DOCUMENTATION describes check_mode, diff_mode and idempotent; a module states its own C(support).
    INFO is the whole set for read-only C(_info) modules. ACTION_GROUP_ENTRA / _EXCHANGE / _MAIL
    tell users which C(module_defaults) group to set the connection options in, once. They stay
    literal strings: ansible-test's yamllint reads doc fragments without running them.
    """

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and then predicts whether it would change anything, without changing it.
  diff_mode:
    description: Returns the state before and after (or the predicted after state in check mode) in diff mode.
  idempotent:
    description: Running it again with the same options reports no change and changes nothing.
"""

    INFO = r"""
options: {}
attributes:
  check_mode:
    description: This module only reads, and works the same in check mode.
    support: full
  diff_mode:
    description: This module only reads; there is nothing to show a difference of.
    support: N/A
  idempotent:
    description: This module only reads.
    support: full
"""

    ACTION_GROUP_ENTRA = r"""
options: {}
attributes:
  action_group:
    description:
      - Set the connection options once for all Entra ID modules with C(group/mailauth.m365.entra)
        in C(module_defaults), or for every module of the collection with C(group/mailauth.m365.all).
    support: full
    membership:
      - mailauth.m365.entra
      - mailauth.m365.all
"""

    ACTION_GROUP_MAIL = r"""
options: {}
attributes:
  action_group:
    description:
      - Set the connection options once for the mail modules with C(group/mailauth.m365.mail)
        in C(module_defaults), or for every module of the collection with C(group/mailauth.m365.all).
    support: full
    membership:
      - mailauth.m365.mail
      - mailauth.m365.all
"""

    ACTION_GROUP_EXCHANGE = r"""
options: {}
attributes:
  action_group:
    description:
      - Set the connection options once for all Exchange Online modules with C(group/mailauth.m365.exchange)
        in C(module_defaults), or for every module of the collection with C(group/mailauth.m365.all).
    support: full
    membership:
      - mailauth.m365.exchange
      - mailauth.m365.all
"""
