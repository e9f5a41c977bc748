-- Every change or deletion of a customer row is announced on the channel
-- `dream_customers` when its transaction commits, so other server processes
-- forget their cached copy at once instead of reloading every customer each
-- cache bound (see dream-store/src/cache/changes.rs). Inserts need no notice:
-- only customers that exist are cached.
CREATE FUNCTION dream_customer_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dream_customers', 'c ' || OLD.platform_id || ' ' || OLD.mode || ' ' || OLD.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER customers_announce_changes
AFTER UPDATE OR DELETE ON customers
FOR EACH ROW EXECUTE FUNCTION dream_customer_changed();
