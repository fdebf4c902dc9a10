//! Effect names: what a transition does besides moving the case, named in the workflow YAML
//! (on a transition, or on a state's `on_enter`/`on_exit`) and validated at load like guards.
//! Their implementations live in `service/effects/`, one file each (they add rows to the
//! commit); the engine only knows the names and where each may be named.

/// Where an effect is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A transition's `effects`.
    Transition,
    /// A state's `on_enter`.
    Enter,
    /// A state's `on_exit`.
    Exit,
}

impl Place {
    /// As the YAML says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Place::Transition => "a transition",
            Place::Enter => "on_enter",
            Place::Exit => "on_exit",
        }
    }
}

const ANYWHERE: &[Place] = &[Place::Transition, Place::Enter, Place::Exit];

/// Every effect a workflow may name with the places it may be named, in the order they may
/// depend on each other.
pub const EFFECTS: &[(&str, &[Place])] = &[
    ("assign_number", &[Place::Transition]),
    ("issue_receipt", &[Place::Transition]),
    // The step's deadline timer: needs the step's due date, known once the state is entered.
    ("start_timer", &[Place::Enter]),
    ("cancel_timers", ANYWHERE),
    ("start_procedure_timer", &[Place::Transition]),
    // Copies what the commission's queue filters by from the form onto the case.
    ("file_case", &[Place::Transition]),
    // Keeps what a decision says (reasons, recommendations, fixes) beside the case.
    ("record_decision", &[Place::Transition]),
    // An approval issues the accreditation record (PDF and XML, stored once)...
    ("create_accreditation_record", &[Place::Transition]),
    // ...and queues it in the outbox for export to the register.
    ("export_to_register", &[Place::Transition]),
    // A support request is sent: its line, category, priority, the case it concerns and the
    // agent it is assigned to (the least loaded of line 1, or the first request's agent).
    ("open_support_request", &[Place::Transition]),
    // An agent's first answer (kept: later answers do not move it)...
    ("record_response", &[Place::Transition]),
    // ...and the moment it was resolved.
    ("record_resolution", &[Place::Transition]),
    // The problem persists: a repeat request, linked to this one, opens with its context.
    ("open_repeat_request", &[Place::Transition]),
    // The author asks for line 2 after a breach.
    ("escalate_to_line_2", &[Place::Transition]),
    // Runs after everything else of the transition: it tells what the change did.
    ("notify", ANYWHERE),
];

/// Where an effect may be named, if it exists.
pub fn place_of(name: &str) -> Option<&'static [Place]> {
    EFFECTS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// Whether an effect with that name exists.
pub fn is_known(name: &str) -> bool {
    place_of(name).is_some()
}
