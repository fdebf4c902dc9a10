//! Effect names: what a transition does besides moving the case, named in the workflow YAML
//! and validated at load like guards. Their implementations live in `service/effects/`, one
//! file each (they write rows); the engine only knows the names.

/// Every effect a workflow may name, in the order they may depend on each other.
pub const EFFECTS: &[&str] = &["assign_number", "issue_receipt"];

/// Whether an effect with that name exists.
pub fn is_known(name: &str) -> bool {
    EFFECTS.contains(&name)
}
