"""Selections (segments): a marketer's conditions, compiled to one SQL query.

A definition is a tree: a group {"op": "and"|"or", "negate": bool, "children": [...]}
whose children are groups or conditions {"kind": key, "negate": bool, "params": {...}}.
Each kind of condition turns its parameters into a Q over Profile (with Exists() or
subqueries for what lives in other tables), so the whole selection is one query and
never a loop over customers. Apps register their kinds from AppConfig.ready().
"""

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import LifecycleStage, Profile

MAX_DEPTH = 5
MAX_CONDITIONS = 50


@dataclass(frozen=True)
class Param:
    name: str
    label: Any
    type: str  # text, number, days, date, choice, bool
    choices: Callable[[], list[tuple[str, str]]] | None = None
    required: bool = True
    default: Any = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": str(self.label),
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "choices": [[str(v), str(t)] for v, t in self.choices()] if self.choices else None,
        }


@dataclass(frozen=True)
class ConditionKind:
    key: str
    label: Any
    group: Any
    params: tuple[Param, ...]
    compile: Callable[[dict[str, Any], dt.datetime], Q]
    describe_extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": str(self.label),
            "group": str(self.group),
            "params": [p.describe() for p in self.params],
        }


KINDS: dict[str, ConditionKind] = {}


def register_condition(kind: ConditionKind) -> None:
    KINDS[kind.key] = kind


def kinds_describe() -> list[dict[str, Any]]:
    """What the admin's builder offers, with the choices of every parameter."""
    return [kind.describe() for kind in KINDS.values()]


# --- Validation and compilation -----------------------------------------------------------


def _params_clean(
    kind: ConditionKind, raw: Any, path: str, choices_seen: dict[int, set[str]]
) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationError(_("%(path)s: the parameters must be an object.") % {"path": path})
    clean: dict[str, Any] = {}
    for param in kind.params:
        value = raw.get(param.name, param.default)
        if value in (None, ""):
            if param.required:
                raise ValidationError(
                    _("%(path)s: “%(param)s” is required.") % {"path": path, "param": param.label}
                )
            clean[param.name] = None
            continue
        if param.type in ("number", "days"):
            try:
                value = float(value) if param.type == "number" else int(value)
            except (TypeError, ValueError):
                raise ValidationError(
                    _("%(path)s: “%(param)s” must be a number.")
                    % {"path": path, "param": param.label}
                ) from None
            if param.type == "days" and value < 0:
                raise ValidationError(
                    _("%(path)s: “%(param)s” cannot be negative.")
                    % {"path": path, "param": param.label}
                )
        elif param.type == "date":
            try:
                value = dt.date.fromisoformat(str(value))
            except ValueError:
                raise ValidationError(
                    _("%(path)s: “%(param)s” must be a date (YYYY-MM-DD).")
                    % {"path": path, "param": param.label}
                ) from None
        elif param.type == "bool":
            value = value in (True, "true", "1", 1, "on")
        elif param.type == "choice" and param.choices:
            key = id(param.choices)  # ask each list of choices once per selection
            if key not in choices_seen:
                choices_seen[key] = {str(v) for v, _label in param.choices()}
            allowed = choices_seen[key]
            if str(value) not in allowed:
                raise ValidationError(
                    _("%(path)s: “%(value)s” is not a choice for “%(param)s”.")
                    % {"path": path, "value": value, "param": param.label}
                )
            value = str(value)
        else:
            value = str(value)[:500]
        clean[param.name] = value
    return clean


@dataclass
class _Compiling:
    conditions: int = 0
    choices_seen: dict[int, set[str]] = field(default_factory=dict)


def _node_q(node: Any, now: dt.datetime, *, path: str, depth: int, counter: _Compiling) -> Q:
    if not isinstance(node, dict):
        raise ValidationError(_("%(path)s: a group or a condition is expected.") % {"path": path})
    if depth > MAX_DEPTH:
        raise ValidationError(_("Groups may be nested at most %(n)d deep.") % {"n": MAX_DEPTH})
    if "children" in node:
        children = node.get("children")
        if not isinstance(children, list):
            raise ValidationError(
                _("%(path)s: a group needs a list of conditions.") % {"path": path}
            )
        op = node.get("op", "and")
        if op not in ("and", "or"):
            raise ValidationError(_("%(path)s: a group is “and” or “or”.") % {"path": path})
        q = Q()
        for i, child in enumerate(children):
            child_q = _node_q(child, now, path=f"{path}.{i + 1}", depth=depth + 1, counter=counter)
            q = (q & child_q) if op == "and" else (q | child_q)
        if not children:
            q = Q()  # an empty group selects everyone
    else:
        counter.conditions += 1
        if counter.conditions > MAX_CONDITIONS:
            raise ValidationError(_("At most %(n)d conditions.") % {"n": MAX_CONDITIONS})
        kind = KINDS.get(node.get("kind", ""))
        if kind is None:
            raise ValidationError(
                _("%(path)s: unknown kind of condition “%(kind)s”.")
                % {"path": path, "kind": node.get("kind")}
            )
        q = kind.compile(
            _params_clean(kind, node.get("params", {}), path, counter.choices_seen), now
        )
    return ~q if node.get("negate") and q else q


def selection_q(definition: Any, *, now: dt.datetime) -> Q:
    """The Q a definition stands for; refuses a bad definition, naming where it is."""
    return _node_q(
        definition or {"op": "and", "children": []}, now, path="1", depth=1, counter=_Compiling()
    )


def selection_profiles(definition: Any, *, now: dt.datetime) -> QuerySet[Profile]:
    """The customers a definition selects (never erased ones), as one query."""
    return Profile.objects.filter(erased_at=None).filter(selection_q(definition, now=now))


# --- Kinds of the master list ---------------------------------------------------------------

PROFILE_FIELDS = {
    "first_name": (gettext_lazy("first name"), "text"),
    "last_name": (gettext_lazy("last name"), "text"),
    "email": (gettext_lazy("email address"), "text"),
    "city": (gettext_lazy("city"), "text"),
    "postal_code": (gettext_lazy("postal code"), "text"),
    "country": (gettext_lazy("country"), "text"),
    "language": (gettext_lazy("language"), "text"),
    "timezone": (gettext_lazy("time zone"), "text"),
    "lifecycle_stage": (gettext_lazy("lifecycle stage"), "text"),
    "acquisition_source": (gettext_lazy("acquisition source"), "text"),
    "birth_date": (gettext_lazy("birth date"), "date"),
    "created_at": (gettext_lazy("created"), "date"),
    "order_count": (gettext_lazy("orders"), "number"),
    "total_spent": (gettext_lazy("total spent"), "number"),
    "first_order_at": (gettext_lazy("first order"), "date"),
    "last_order_at": (gettext_lazy("last order"), "date"),
    "last_seen_at": (gettext_lazy("last seen"), "date"),
}
OPERATORS = [
    ("eq", gettext_lazy("is")),
    ("ne", gettext_lazy("is not")),
    ("contains", gettext_lazy("contains")),
    ("starts_with", gettext_lazy("starts with")),
    ("gt", gettext_lazy("is more than / after")),
    ("gte", gettext_lazy("is at least / on or after")),
    ("lt", gettext_lazy("is less than / before")),
    ("lte", gettext_lazy("is at most / on or before")),
    ("within_days", gettext_lazy("is within the last … days")),
    ("not_within_days", gettext_lazy("is not within the last … days")),
    ("is_set", gettext_lazy("is filled in")),
    ("is_empty", gettext_lazy("is empty")),
]
DATETIME_FIELDS = {"created_at", "first_order_at", "last_order_at", "last_seen_at"}


def _compare(lookup: str, operator: str, value: Any, now: dt.datetime, *, is_date: bool) -> Q:
    if operator == "is_set":
        return (
            ~Q(**{f"{lookup}__isnull": True}) & ~Q(**{lookup: ""})
            if not is_date
            else ~Q(**{f"{lookup}__isnull": True})
        )
    if operator == "is_empty":
        return Q(**{f"{lookup}__isnull": True}) | (Q(**{lookup: ""}) if not is_date else Q())
    if operator in ("within_days", "not_within_days"):
        since = now - dt.timedelta(days=float(value or 0))
        q = Q(
            **{
                f"{lookup}__gte": since
                if lookup.split("__")[-1] in DATETIME_FIELDS
                else since.date()
            }
        )
        return q if operator == "within_days" else ~q
    if value is None:
        raise ValidationError(_("This comparison needs a value."))
    if operator == "eq":
        return Q(**{f"{lookup}__iexact": value}) if isinstance(value, str) else Q(**{lookup: value})
    if operator == "ne":
        return ~(
            Q(**{f"{lookup}__iexact": value}) if isinstance(value, str) else Q(**{lookup: value})
        )
    if operator == "contains":
        return Q(**{f"{lookup}__icontains": value})
    if operator == "starts_with":
        return Q(**{f"{lookup}__istartswith": value})
    if operator in ("gt", "gte", "lt", "lte"):
        return Q(**{f"{lookup}__{operator}": value})
    raise ValidationError(_("Unknown comparison “%(op)s”.") % {"op": operator})


def _field_q(params: dict[str, Any], now: dt.datetime) -> Q:
    name, operator, raw = params["field"], params["operator"], params.get("value")
    _label, kind = PROFILE_FIELDS[name]
    value: Any = raw
    if raw not in (None, "") and operator not in (
        "within_days",
        "not_within_days",
        "is_set",
        "is_empty",
    ):
        try:
            if kind == "number":
                value = float(raw)
            elif kind == "date":
                value = dt.date.fromisoformat(str(raw))
        except ValueError:
            raise ValidationError(
                _("“%(value)s” does not fit “%(field)s”.") % {"value": raw, "field": _label}
            ) from None
    lookup = (
        f"{name}__date"
        if name in DATETIME_FIELDS
        and kind == "date"
        and operator in ("eq", "ne", "gt", "gte", "lt", "lte")
        else name
    )
    if operator in ("within_days", "not_within_days"):
        try:
            float(raw or 0)
        except ValueError:
            raise ValidationError(_("The number of days must be a number.")) from None
    return _compare(lookup, operator, value, now, is_date=kind == "date")


def _attribute_q(params: dict[str, Any], now: dt.datetime) -> Q:
    key, operator, value = params["key"], params["operator"], params.get("value")
    lookup = f"custom_attributes__{key}"
    if operator == "is_set":
        return Q(custom_attributes__has_key=key)
    if operator == "is_empty":
        return ~Q(custom_attributes__has_key=key)
    if operator in ("gt", "gte", "lt", "lte"):
        try:
            return Q(**{f"{lookup}__{operator}": float(str(value))})
        except (TypeError, ValueError):
            raise ValidationError(_("“%(value)s” is not a number.") % {"value": value}) from None
    if operator in ("eq", "ne"):
        q = Q(**{lookup: value})
        with contextlib.suppress(TypeError, ValueError):  # "43" matches the number 43 too
            q |= Q(**{lookup: float(str(value))})
        return q if operator == "eq" else ~q
    if operator == "contains":
        return Q(**{f"{lookup}__icontains": value})
    raise ValidationError(_("This comparison does not apply to a custom attribute."))


def _choices(items: dict[str, tuple[Any, str]]) -> Callable[[], list[tuple[str, str]]]:
    return lambda: [(k, str(v[0])) for k, v in items.items()]


def _operators() -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in OPERATORS]


register_condition(
    ConditionKind(
        key="field",
        label=gettext_lazy("Customer data"),
        group=gettext_lazy("Customer"),
        params=(
            Param("field", gettext_lazy("field"), "choice", _choices(PROFILE_FIELDS)),
            Param("operator", gettext_lazy("comparison"), "choice", _operators),
            Param("value", gettext_lazy("value"), "text", required=False),
        ),
        compile=_field_q,
    )
)
register_condition(
    ConditionKind(
        key="attribute",
        label=gettext_lazy("Custom attribute"),
        group=gettext_lazy("Customer"),
        params=(
            Param("key", gettext_lazy("attribute"), "text"),
            Param("operator", gettext_lazy("comparison"), "choice", _operators),
            Param("value", gettext_lazy("value"), "text", required=False),
        ),
        compile=_attribute_q,
    )
)
register_condition(
    ConditionKind(
        key="lifecycle_stage",
        label=gettext_lazy("Lifecycle stage"),
        group=gettext_lazy("Customer"),
        params=(
            Param(
                "stage",
                gettext_lazy("stage"),
                "choice",
                lambda: [(k, str(v)) for k, v in LifecycleStage.choices],
            ),
        ),
        compile=lambda p, now: Q(lifecycle_stage=p["stage"]),
    )
)
