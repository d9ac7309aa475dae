"""Bulk writes for the paths that carry whole files or batches of rows."""

from collections.abc import Callable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models

# Field types whose database value is the Python value itself when it is a str, int or
# bool (or None): no per-value preparation needed. JSON, dates, decimals and custom
# types (a Country) always go through the field's own preparation.
_PLAIN_TYPES = frozenset(
    {
        "CharField",
        "TextField",
        "BooleanField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "ForeignKey",
    }
)
_PLAIN_VALUES = (str, int, bool, type(None))


def _value_getter(field: models.Field, connection: Any) -> Callable[[models.Model], Any]:
    """The function that gives a field's database value for a new row, as save() would."""
    attname = field.attname
    uses_pre_save = type(field).pre_save is not models.Field.pre_save  # auto_now and kin
    plain = field.get_internal_type() in _PLAIN_TYPES

    def value(obj: models.Model) -> Any:
        raw = field.pre_save(obj, True) if uses_pre_save else getattr(obj, attname)
        if plain and isinstance(raw, _PLAIN_VALUES):
            return raw
        return field.get_db_prep_save(raw, connection)

    return value


def rows_insert(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert `objs` as one bulk write: PostgreSQL COPY, else one bulk_create.

    COPY escapes values in C, where Django's multi-row INSERT builds its arrays in Python
    (a 100k-row import spent most of its time there). Primary keys are not set on the
    objects; callers that need them read them back by a natural key. Model defaults and
    auto_now fields are filled exactly as save() would (Field.pre_save).
    """
    if not objs:
        return
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs)
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    getters = [_value_getter(f, connection) for f in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields if f.column)
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        write = copy.write_row
        for obj in objs:
            write([get(obj) for get in getters])
