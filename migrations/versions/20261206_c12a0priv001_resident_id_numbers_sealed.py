"""residents' ID numbers sealed: encrypted by the application, a keyed hash for uniqueness

`residents.id_number` (plain 身份证号) becomes `id_number_sealed` (Fernet, with the newest key of
JIFEN_ID_KEYS) and `id_number_hmac` (HMAC-SHA256 with JIFEN_ID_HMAC_KEY); the per-township unique
index of current residents moves to the hash (built by c12a0privix1). Existing rows are converted in batches with the
configured keys (so run it with the production keys set), then the plain column is dropped.
Uploaded spreadsheets (rosters, full of ID numbers) in `stored_files` are sealed the same way.
Downgrade decrypts both back.

Revision ID: c12a0priv001
Revises: c12j0bruns01
Create Date: 2026-12-06 09:40:00

"""
import sqlalchemy as sa
from alembic import op

from jifen.platform import sealed

revision = 'c12a0priv001'
down_revision = 'c12j0bruns01'
branch_labels = None
depends_on = None

BATCH = 1000
CURRENT = "IS NOT NULL AND left_on IS NULL"


def _batches(bind, column: str):
    """(tenant_id, id, value) of rows with a value in `column`, BATCH at a time in key order."""
    after = None
    while True:
        where = f"{column} IS NOT NULL" + (" AND (tenant_id, id) > (:t, :i)" if after else "")
        params = {"t": after[0], "i": after[1]} if after else {}
        rows = bind.execute(sa.text(f"SELECT tenant_id, id, {column} FROM residents WHERE {where} "
                                    f"ORDER BY tenant_id, id LIMIT {BATCH}"), params).all()
        if not rows:
            return
        yield rows
        after = (rows[-1][0], rows[-1][1])


def _files(bind, plain: bool):
    """(tenant_id, id, data) of stored spreadsheets, a few at a time: those still plain (an .xlsx is
    a zip: "PK") or those sealed."""
    after = None
    while True:
        where = "kind = 'spreadsheet'" + (" AND (tenant_id, id) > (:t, :i)" if after else "")
        rows = bind.execute(sa.text(f"SELECT tenant_id, id, data FROM stored_files WHERE {where} "
                                    f"ORDER BY tenant_id, id LIMIT 20"),
                            {"t": after[0], "i": after[1]} if after else {}).all()
        if not rows:
            return
        yield [(t, i, bytes(d)) for t, i, d in rows if d is not None and bytes(d).startswith(b"PK") == plain]
        after = (rows[-1][0], rows[-1][1])


def _rewrite_files(bind, plain: bool, change) -> None:
    for rows in _files(bind, plain):
        for t, i, data in rows:
            bind.execute(sa.text("UPDATE stored_files SET data = :d WHERE tenant_id = :t AND id = :i"),
                         {"d": change(data), "t": t, "i": i})


def upgrade():
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id_number_sealed', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('id_number_hmac', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    for rows in _batches(bind, "id_number"):
        bind.execute(sa.text("UPDATE residents SET id_number_sealed = :s, id_number_hmac = :h "
                             "WHERE tenant_id = :t AND id = :i"),
                     [{"s": sealed.seal(number), "h": sealed.blind(number), "t": t, "i": i} for t, i, number in rows])
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_index('uq_residents_id_number', sqlite_where=sa.text(f'id_number {CURRENT}'),
                            postgresql_where=sa.text(f'id_number {CURRENT}'))
        batch_op.drop_column('id_number')
    _rewrite_files(bind, True, sealed.seal_bytes)
    # the unique index on the hash is built by the next revision, c12a0privix1, on its own


def downgrade():
    _rewrite_files(op.get_bind(), False, sealed.unseal_bytes)
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id_number', sa.String(length=18), nullable=True))
    bind = op.get_bind()
    for rows in _batches(bind, "id_number_sealed"):
        bind.execute(sa.text("UPDATE residents SET id_number = :n WHERE tenant_id = :t AND id = :i"),
                     [{"n": sealed.unseal(token), "t": t, "i": i} for t, i, token in rows])
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('id_number_hmac')
        batch_op.drop_column('id_number_sealed')
        batch_op.create_index('uq_residents_id_number', ['tenant_id', 'id_number'], unique=True,
                              sqlite_where=sa.text(f'id_number {CURRENT}'), postgresql_where=sa.text(f'id_number {CURRENT}'))
