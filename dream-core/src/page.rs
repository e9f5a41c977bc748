//! Cursor pagination, like Stripe's `limit` / `starting_after`.

/// Which page to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<C> {
    /// Page size, 1..=100.
    pub limit: usize,
    /// Return items after this cursor (exclusive).
    pub starting_after: Option<C>,
}

impl<C> PageRequest<C> {
    /// Largest page.
    pub const MAX_LIMIT: usize = 100;

    /// A first page of `limit` items, clamped to 1..=100.
    pub fn first(limit: usize) -> Self {
        Self {
            limit: limit.clamp(1, Self::MAX_LIMIT),
            starting_after: None,
        }
    }
}

/// A page of items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// Items, in the list's order.
    pub data: Vec<T>,
    /// Whether more items follow.
    pub has_more: bool,
}
