//! ФРМР — the federal register of medical workers: our copy of it and the cross-check of a
//! person from the identity provider against it. (Sync from export files and the register API
//! is still to come.)

pub mod cross_check;
pub mod record;
pub mod sync;
