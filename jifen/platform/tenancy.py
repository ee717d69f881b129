"""The current tenant and the session guard that makes forgetting the tenant filter impossible.

* `current_tenant()` is set once per request from the URL (`/t/<slug>/…`, `/api/v1/t/<slug>/…`)
  or by `tenant_scope(tenant)` in CLI commands and jobs.
* Every ORM SELECT/UPDATE/DELETE touching a `TenantOwned` model gets `tenant_id = :current`
  added; with no tenant set it raises `TenantNotSet` (fail closed).
* New `TenantOwned` rows get the current tenant's id at flush; a row for another tenant raises.
Raw SQL (ranking, settlement) must bind the tenant itself and is reviewed by hand.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from functools import lru_cache

from flask import g, has_app_context
from flask_babel import gettext as _
from sqlalchemy import JSON, Column, Table, bindparam, event, insert, inspect, text, update
from sqlalchemy.orm import Session, with_loader_criteria
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import visitors

from jifen.platform.db import TenantOwned, db, parse_uuid
from jifen.platform.errors import NotFound


class TenantNotSet(RuntimeError):
    """Tenant-owned data was queried or written with no tenant in scope."""


class CrossTenantWrite(RuntimeError):
    """A row of one tenant was about to be written while another tenant is in scope."""


def current_tenant():
    return g.get("tenant") if has_app_context() else None


def current_tenant_id():
    tenant = current_tenant()
    return tenant.id if tenant is not None else None


def set_current_tenant(tenant) -> None:
    g.tenant = tenant


@contextmanager
def tenant_scope(tenant):
    """Run a block (CLI command, job) as `tenant`, restoring whatever was in scope before.

    Rows added inside the block are flushed before it ends, while their tenant is still in scope.
    """

    previous = g.get("tenant")
    g.tenant = tenant
    try:
        yield tenant
        db.session.flush()
    finally:
        g.tenant = previous


# --- objects named in tenant URLs ------------------------------------------------------------
# Every `<uuid:..._id>` in a township route names a tenant-owned row. Before any view runs (and
# before a body is even parsed), the row must exist in the current tenant, else 404: so another
# township's id is "not found" on every route, whatever the role. A route parameter with no
# registered model stops the app from starting (see `check_url_objects`).

URL_OBJECTS: dict[str, type] = {}
URL_PARAMS_NOT_OBJECTS = {"tenant_slug", "secret", "token"}  # `secret`: setup links, looked up by hash;
# `token`: public notice links, looked up by value within the tenant (notices.notice_by_token)


def register_url_object(param: str, model: type) -> None:
    URL_OBJECTS[param] = model


def check_url_objects(app) -> None:
    for rule in app.url_map.iter_rules():
        if "tenant_slug" in rule.arguments:
            unknown = rule.arguments - URL_PARAMS_NOT_OBJECTS - set(URL_OBJECTS)
            if unknown:
                raise RuntimeError(f"{rule.rule}: register the model of {sorted(unknown)} "
                                   "with tenancy.register_url_object()")


def tenant_get(model: type, object_id):
    """The current tenant's `model` row with this id, or None. Goes through the session's identity
    map first, so a row already loaded in this request (e.g. by the URL check) costs no query."""
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise TenantNotSet(f"{model.__name__} looked up with no tenant in scope")
    object_id = parse_uuid(object_id)
    if object_id is None:
        return None
    obj = db.session.get(model, (tenant_id, object_id))
    if obj is not None and db.session.info.get("read_only"):
        # the identity map holds rows weakly: a row no one keeps (a scope check's grid node, a
        # panel's household) would be loaded again by the next look-up, a dozen times on a
        # villager's home. A GET writes nothing, so keeping them to its end changes no answer.
        db.session.info.setdefault("kept_rows", []).append(obj)
    return obj


def tenant_get_or_404(model: type, object_id):
    """`tenant_get`, with a missing row (or another tenant's) raised as NotFound."""
    obj = tenant_get(model, object_id)
    if obj is None:
        raise NotFound(_("Not found."))
    return obj


def url_objects_exist(view_args: dict) -> bool:
    """Load every object the URL names; keep them on `g` (the identity map only holds weak
    references) so the view's own `tenant_get` of the same row is free."""
    g.url_objects = {p: tenant_get(URL_OBJECTS[p], v) for p, v in (view_args or {}).items() if p in URL_OBJECTS}
    return all(obj is not None for obj in g.url_objects.values())


class UnfilteredTenantQuery(RuntimeError):
    """A Core `Table` of a tenant table was used in an ORM session: the guard cannot filter it."""


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


@lru_cache(maxsize=1)
def _tenant_tables() -> frozenset:
    """Computed once, on the first query: every model is imported by then (create_app)."""
    return frozenset(m.__table__ for m in _all_subclasses(TenantOwned) if hasattr(m, "__table__"))


# Tables that name a township but belong to the county (they outlive it): not the township's rows.
COUNTY_TABLES_NAMING_A_TENANT = frozenset({"county_records"})


def tenant_tables() -> list:
    """Every table of a township's rows, parents before children (foreign-key order): each table with
    a `tenant_id` column but the county's records. What offboarding deletes and what Citus
    distributes by `tenant_id` (wider than the guard's `_tenant_tables`: `audit_heads` is keyed by
    the tenant and read by hand, not through the ORM filter)."""
    return [t for t in db.metadata.sorted_tables
            if "tenant_id" in t.c and t.name not in COUNTY_TABLES_NAMING_A_TENANT]


@lru_cache(maxsize=1024)
def _tenant_criteria(tenant_id):
    """One loader-criteria option per tenant, reused by every statement of that tenant."""
    return with_loader_criteria(TenantOwned, lambda cls: cls.tenant_id == tenant_id, include_aliases=True)


def _touches_tenant_data(state) -> bool:
    """True if the statement reads or writes a tenant table through ORM entities.

    ORM entities carry a `parententity` annotation, and `with_loader_criteria` filters them
    wherever they occur (columns, select_from, joins, subqueries). A bare Core table or column of a
    tenant table would slip past that filter, so it is refused outright.
    """
    if any(issubclass(m.class_, TenantOwned) for m in state.all_mappers):
        return True  # the common case: an ORM query of tenant models, filtered by the criteria
    tenant_tables = _tenant_tables()
    via_orm, bare = set(), set()
    for el in visitors.iterate(state.statement):
        table = el if isinstance(el, Table) else getattr(el, "table", None) if isinstance(el, Column) else None
        if table is None or table not in tenant_tables:
            continue
        (via_orm if el._annotations.get("parententity") else bare).add(table)
    if bare - via_orm:
        raise UnfilteredTenantQuery(f"{sorted(t.name for t in bare - via_orm)}: query tenant tables "
                                    "through their ORM model")
    return bool(via_orm)


@event.listens_for(Session, "do_orm_execute")
def _filter_by_tenant(state) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("all_tenants"):  # explicit, greppable escape hatch
        return
    if not _touches_tenant_data(state):
        return
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise TenantNotSet("tenant-owned data queried with no tenant in scope")
    state.statement = state.statement.options(_tenant_criteria(tenant_id))


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session, flush_context, instances) -> None:
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantOwned):
            continue
        tenant_id = current_tenant_id()
        if tenant_id is None:
            raise TenantNotSet(f"{type(obj).__name__} written with no tenant in scope")
        if obj.tenant_id is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise CrossTenantWrite(f"{type(obj).__name__} of another tenant written")


def insert_new(model: type, rows: list) -> None:
    """Insert new rows of `model` (dicts of column values, or transient instances) by COPY on
    PostgreSQL (an executemany elsewhere), without the unit of work: far cheaper per row for jobs
    that write thousands (posting). The rows are not added to the session. They get the current
    tenant, as a flush would give them (and another tenant's is refused); unset columns get their
    defaults."""
    if not rows:
        return
    tenant_id = current_tenant_id()
    scoped = issubclass(model, TenantOwned)
    if scoped and tenant_id is None:
        raise TenantNotSet(f"{model.__name__} written with no tenant in scope")
    plain = []
    for row in rows:
        row = {k: v for k, v in (row if isinstance(row, dict) else vars(row)).items() if not k.startswith("_")}
        if scoped and row.setdefault("tenant_id", tenant_id) != tenant_id:
            raise CrossTenantWrite(f"{model.__name__} of another tenant written")
        plain.append(row)
    if db.session.get_bind().dialect.name == "postgresql":
        _copy(model, plain)
    else:
        db.session.execute(insert(model), plain)


def _copy(model: type, rows: list[dict]) -> None:
    """`COPY … FROM STDIN` of `rows` on the session's connection (its transaction): a statement
    per row (psycopg's executemany) or a compiled multi-row INSERT cost several times more.
    Python-side column defaults fill what a row leaves out, as an INSERT would."""
    columns = inspect(model).columns
    keys = list(dict.fromkeys(k for row in rows for k in row))
    keys += [k for k, c in columns.items() if k not in keys and c.default is not None]
    cols = [columns[k] for k in keys]
    fill = [c.default and (c.default.arg if c.default.is_callable else (lambda _ctx, v=c.default.arg: v))
            for c in cols]  # called per row that leaves the column out
    as_json = [isinstance(c.type, JSON) for c in cols]
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    with cursor, cursor.copy(f'COPY {model.__table__.name} ({", ".join(c.name for c in cols)}) FROM STDIN') as copy:
        for row in rows:
            values = [row[k] if k in row else d and d(None) for k, d in zip(keys, fill, strict=True)]
            copy.write_row([json.dumps(v, ensure_ascii=False) if j and v is not None else v
                            for v, j in zip(values, as_json, strict=True)])


def update_known(model: type, rows: list[dict]) -> None:
    """Update existing rows of tenant-scoped `model` by id (dicts of `id` and the new column values,
    the same columns in each) in one statement (PostgreSQL; an executemany elsewhere), without the
    unit of work: the posting job's applications and balance rows. The statement binds the current
    tenant itself (reviewed; so it takes the guard's escape hatch): another tenant's row matches
    nothing. Copies of the rows already loaded in the session get the new values as if loaded, so
    the session never shows what the database no longer holds."""
    if not rows:
        return
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise TenantNotSet(f"{model.__name__} written with no tenant in scope")
    table, names = model.__table__, [k for k in rows[0] if k != "id"]
    if db.session.get_bind().dialect.name == "postgresql":  # one statement, the values as arrays
        dialect = db.session.get_bind().dialect
        sets = ", ".join(f"{n} = given.{n}" for n in names)
        arrays = ", ".join(f"CAST(:{n} AS {table.c[n].type.compile(dialect)}[])" for n in ["id", *names])
        db.session.execute(text(f"UPDATE {table.name} SET {sets} FROM unnest({arrays}) AS given(id, {', '.join(names)}) "
                                f"WHERE {table.name}.tenant_id = :k_tenant AND {table.name}.id = given.id"),
                           {"k_tenant": tenant_id, **{n: [r[n] for r in rows] for n in ["id", *names]}})
    else:
        stmt = (update(table).where(table.c.tenant_id == bindparam("k_tenant"), table.c.id == bindparam("k_id"))
                .values({n: bindparam(f"v_{n}") for n in names}).execution_options(all_tenants=True))
        db.session.execute(stmt, [{"k_tenant": tenant_id, "k_id": r["id"], **{f"v_{n}": r[n] for n in names}}
                                  for r in rows])
    mapper, known = inspect(model), db.session.identity_map
    if not len(known):
        return
    for r in rows:
        obj = known.get(mapper.identity_key_from_primary_key(
            [tenant_id if c.key == "tenant_id" else r["id"] for c in mapper.primary_key]))
        if obj is not None:
            for n in names:
                set_committed_value(obj, n, r[n])
