//! Tamper-evident audit log: per-chain SHA-256 hash chains (one chain per case, one per user
//! for events outside cases), Merkle-root checkpoints, and verification.

pub mod chain;
pub mod checkpoint;
pub mod verify;

pub use chain::{Entry, prepare, record};
