-- Group commit (migration 0018 of PostgreSQL: `dream_consume_batch`) needs no
-- schema change in SQLite: a batch is one `BEGIN IMMEDIATE` transaction of the
-- same statements. This file keeps the two migration lists numbered alike.
SELECT 1;
