-- Inventory of one-off products (see the PostgreSQL migration of the same number).

CREATE TABLE inventory (
    platform_id TEXT NOT NULL,
    mode        TEXT NOT NULL,
    product     TEXT NOT NULL,
    sold        INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, product)
);

CREATE TABLE reservations (
    platform_id TEXT NOT NULL,
    mode        TEXT NOT NULL,
    id          TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('active', 'committed', 'released')),
    lines       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    settled_at  INTEGER,
    PRIMARY KEY (platform_id, mode, id)
);

CREATE TABLE inventory_holds (
    platform_id    TEXT NOT NULL,
    mode           TEXT NOT NULL,
    reservation_id TEXT NOT NULL,
    product        TEXT NOT NULL,
    quantity       INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    PRIMARY KEY (platform_id, mode, reservation_id, product)
);
CREATE INDEX inventory_holds_by_product ON inventory_holds (platform_id, mode, product, expires_at);
