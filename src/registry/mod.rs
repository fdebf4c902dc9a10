//! ФРМР — the federal register of medical workers: our copy of it, kept current by a sync
//! from export files (JSON Lines, CSV) or the register's paged API, and the cross-check of a
//! person from the identity provider against it.

pub mod api;
pub mod check;
pub mod cross_check;
pub mod generate;
pub mod record;
pub mod sync;
