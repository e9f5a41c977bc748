-- Inventory of one-off products: carts reserve units while the buyer pays; the
-- payment webhook commits (sold) or releases the reservation.
--
-- `inventory` has one row per product ever reserved: its `sold` counter, and the
-- row every reserve and commit of the product locks (in product order, so carts
-- naming the same products never deadlock). `inventory_holds` has one row per
-- active reservation and product: what "reserved" sums, restricted to unexpired
-- holds, so expiry needs no job. Settling a reservation deletes its holds; holds
-- of reservations never settled only stop counting (the index starts the range
-- scan at `now`).

CREATE TABLE inventory (
    platform_id TEXT COLLATE "C" NOT NULL,
    mode        TEXT NOT NULL,
    product     TEXT COLLATE "C" NOT NULL,
    sold        BIGINT NOT NULL,
    PRIMARY KEY (platform_id, mode, product)
);

CREATE TABLE reservations (
    platform_id TEXT COLLATE "C" NOT NULL,
    mode        TEXT NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('active', 'committed', 'released')),
    lines       TEXT NOT NULL, -- JSON array of dream_core::ReservationLine, in cart order
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    settled_at  TIMESTAMPTZ,   -- the commit or release; NULL while active
    PRIMARY KEY (platform_id, mode, id)
);

CREATE TABLE inventory_holds (
    platform_id    TEXT COLLATE "C" NOT NULL,
    mode           TEXT NOT NULL,
    reservation_id TEXT COLLATE "C" NOT NULL,
    product        TEXT COLLATE "C" NOT NULL,
    quantity       BIGINT NOT NULL, -- the reservation's lines for the product, added up
    expires_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (platform_id, mode, reservation_id, product)
);
CREATE INDEX inventory_holds_by_product ON inventory_holds (platform_id, mode, product, expires_at);
