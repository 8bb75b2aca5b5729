"""PowerShell parameter binding for the cmdlets: names are case-insensitive, values arrive as JSON
(`$true`/`$false`/`$null` as true/false/null) and are converted as PowerShell converts them, with
PowerShell's error texts when they cannot be."""
from . import errors

# Parameters every cmdlet takes (PowerShell's common parameters and Exchange's -Confirm/-WhatIf).
COMMON = ("Confirm", "WhatIf", "ErrorAction", "WarningAction", "InformationAction", "Verbose", "Debug",
          "ErrorVariable", "WarningVariable", "OutVariable", "OutBuffer", "PipelineVariable", "Organization")
BOOL_HINT = "Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0."


def _type_name(value):
    return {list: "System.Object[]", dict: "System.Collections.Hashtable", str: "System.String",
            bool: "System.Boolean", int: "System.Int32", float: "System.Double"}.get(type(value), "System.Object")


class Param:
    """One parameter. `kind` is one of: string, strings (a string array), bool, nullable_bool, switch,
    enum, enums (an array of enum values), result_size, multi (a multi-valued property: an array replaces
    it, {"Add": [...], "Remove": [...]} changes it, as @{Add=...} does in PowerShell)."""

    def __init__(self, name, kind="string", mandatory=False, aliases=(), choices=(), type_name=None, nullable=False):
        self.name = name
        self.kind = kind
        self.mandatory = mandatory
        self.aliases = aliases
        self.choices = choices
        self.type_name = type_name or "System.String"
        self.nullable = nullable

    def convert(self, value):
        converter = getattr(self, "_" + self.kind)
        return converter(value)

    # --- converters --------------------------------------------------------------------------------
    def _scalar(self, value):
        if isinstance(value, (list, dict)):
            raise errors.binding("Cannot convert '%s' to the type 'System.String' required by parameter '%s'. "
                                 "Specified method is not supported." % (_type_name(value), self.name))
        if isinstance(value, bool):
            return "True" if value else "False"
        return str(value)

    def _string(self, value):
        if value is None or value == "":
            if self.nullable:
                return None
            if self.mandatory:
                raise errors.binding("Cannot bind argument to parameter '%s' because it is %s." %
                                     (self.name, "null" if value is None else "an empty string"))
            return None
        return self._scalar(value)

    def _strings(self, value):
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        return [self._scalar(item) for item in items]

    def _bool(self, value):
        if value is None and self.kind == "nullable_bool":
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value != 0
        shown = "" if value is None else _type_name(value)
        raise errors.transformation(self.name, 'Cannot convert value "%s" to type "System.Boolean". %s' % (shown, BOOL_HINT))

    _nullable_bool = _bool

    def _switch(self, value):
        if value is None or isinstance(value, bool):
            return bool(value)
        return self._bool(value)

    def _enum_value(self, value):
        text = self._scalar(value)
        for choice in self.choices:
            if choice.lower() == text.lower():
                return choice
        raise errors.transformation(self.name, 'Cannot convert value "%s" to type "%s". Error: "Unable to match the identifier '
                                    'name %s to a valid enumerator name. Specify one of the following enumerator names and try '
                                    'again: %s"' % (text, self.type_name, text, ", ".join(self.choices)))

    def _enum(self, value):
        return None if value is None else self._enum_value(value)

    def _enums(self, value):
        # "FullAccess, ReadPermission" is one flags value in PowerShell: split it as Exchange does.
        items = self._strings(value)
        return None if items is None else [self._enum_value(p.strip()) for item in items for p in item.split(",") if p.strip()]

    def _result_size(self, value):
        text = self._scalar(value).strip()
        if text.lower() == "unlimited":
            return None
        try:
            number = int(text)
        except ValueError:
            number = 0
        if number <= 0:
            raise errors.transformation(self.name, 'Cannot convert value "%s" to type "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]". '
                                        'Error: "The value must be a positive integer or \'Unlimited\'."' % text)
        return number

    def _multi(self, value):
        if isinstance(value, dict):
            changes = {}
            for key, items in value.items():
                if key.lower() not in ("add", "remove"):
                    raise errors.binding("Cannot bind parameter '%s'. The hashtable may only contain the keys Add and Remove." % self.name)
                changes[key.lower()] = self._strings(items) or []
            return changes
        return self._strings(value) or []


def bind(cmdlet_name, params, given):
    """Canonical name -> converted value of the parameters given; PowerShell's errors for unknown or
    missing ones and for values that do not convert."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise errors.bad_request("'Parameters' of CmdletInput must be a JSON object.")
    by_name = {}
    for param in params:
        for name in (param.name,) + tuple(param.aliases):
            by_name[name.lower()] = param
    common = {name.lower(): name for name in COMMON}
    bound, unknown = {}, []
    for key, value in given.items():
        param = by_name.get(key.lower())
        if param is not None:
            bound[param.name] = param.convert(value)
        elif key.lower() in common:
            bound[common[key.lower()]] = value
        else:
            unknown.append(key)
    if unknown:
        raise errors.unknown_parameters(unknown)
    missing = [p.name for p in params if p.mandatory and bound.get(p.name) in (None, [])]
    if missing:
        raise errors.missing_parameters(missing)
    return bound
