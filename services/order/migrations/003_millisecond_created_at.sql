-- Paging cursors carry created_at as a JavaScript date, to the millisecond: with microseconds, an order
-- made earlier in the same millisecond as a page's last one would sort before the cursor's value and be
-- skipped by the next page. Kept to milliseconds, as discount and payment keep theirs.
update orders set created_at = date_trunc('milliseconds', created_at);
alter table orders alter column created_at set default date_trunc('milliseconds', now());
