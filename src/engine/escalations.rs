//! Escalation names: what a breached deadline of a state does besides flagging the case, named
//! in the workflow YAML (a state's `on_breach`) and validated at load like guards and effects.
//! Their implementations live in `service/escalations/`, one file each.

/// The escalation of a state that names none: the secretaries hear of it.
pub const DEFAULT: &str = "notify_secretaries";

/// Every escalation a workflow may name.
pub const ESCALATIONS: &[&str] = &[
    // Every responsible secretary is told (the commission's default).
    "notify_secretaries",
    // The staff member the case is assigned to is reminded.
    "notify_assignee",
    // The lead of the support line working the request, unless an agent has answered.
    "notify_line_lead",
    // The request goes to line 2: its least loaded agent takes it over, and hears of it with
    // the line's lead.
    "to_line_2",
];

/// Whether an escalation with that name exists.
pub fn is_known(name: &str) -> bool {
    ESCALATIONS.contains(&name)
}
