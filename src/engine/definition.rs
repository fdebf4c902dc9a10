//! Workflow definitions as read from `workflows/*.yaml`.
//!
//! The YAML is deserialized with spans (`marked_yaml`) so that every problem found while
//! validating names the file, the line and the item.

use marked_yaml::Spanned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A state of a workflow as written in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub name: Spanned<String>,
    pub label: String,
    #[serde(default)]
    pub r#final: bool,
    /// Whether the applicant may change the form in this state.
    #[serde(default)]
    pub editable: bool,
    /// Deadline for leaving this state, in working days (used by timers).
    #[serde(default)]
    pub sla_working_days: Option<u32>,
    /// Or in working hours: the intake hours of working days (a help desk's first answer).
    #[serde(default)]
    pub sla_working_hours: Option<u32>,
    /// Effects run by every transition that enters this state (after the transition's own).
    #[serde(default)]
    pub on_enter: Vec<Spanned<String>>,
    /// Effects run by every transition that leaves this state (before the transition's own).
    #[serde(default)]
    pub on_exit: Vec<Spanned<String>>,
    /// What the step's timer does when its deadline passes: run this system transition with
    /// this reason. Without it, a passed deadline is escalated (flagged and audited).
    #[serde(default)]
    pub on_deadline: Option<RawDeadline>,
    /// A transition the author's message runs in this state (a support request waiting for
    /// information goes back to work when its author answers).
    #[serde(default)]
    pub on_author_reply: Option<Spanned<String>>,
    /// What a breached deadline of this state does besides flagging the case (an escalation
    /// name; default `notify_secretaries`).
    #[serde(default)]
    pub on_breach: Option<Spanned<String>>,
    /// An escalation this long after the state is entered, unless it was left (started by
    /// `start_timer`, cancelled by `cancel_timers`).
    #[serde(default)]
    pub escalate: Option<RawEscalate>,
    /// The norm by one of the workflow's attributes (a support request's priority or kind),
    /// for the values it names; the others keep the state's own.
    #[serde(default)]
    pub sla_by: Option<super::attributes::RawSlaBy>,
    /// The assignee is told this long (working hours or minutes) before the step is due.
    #[serde(default)]
    pub warn_before: Option<super::attributes::RawNorm>,
}

/// A state's timed escalation as written in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEscalate {
    /// Working hours (09:00–18:00 Moscow time on working days) after entering the state.
    pub after_working_hours: u32,
    /// The escalation to run.
    pub to: Spanned<String>,
}

/// A deadline's transition as written in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeadline {
    pub transition: Spanned<String>,
    pub reason: String,
}

/// A transition as written in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransition {
    pub name: Spanned<String>,
    pub label: String,
    pub from: Vec<Spanned<String>>,
    pub to: Spanned<String>,
    pub roles: Vec<Spanned<String>>,
    #[serde(default)]
    pub guards: Vec<Spanned<String>>,
    #[serde(default)]
    pub effects: Vec<Spanned<String>>,
    /// Deadline of the step this transition starts, when it differs from the target state's
    /// (a decision after revision is due sooner than a first one).
    #[serde(default)]
    pub sla_working_days: Option<u32>,
    #[serde(default)]
    pub requires_reason: bool,
    #[serde(default)]
    pub requires_signature: bool,
    /// The notice its `notify` sends instead of the one the states imply (an extended
    /// deadline).
    #[serde(default)]
    pub notice: Option<Spanned<String>>,
}

/// A document type with its limits as written in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDocumentType {
    pub code: Spanned<String>,
    pub label: String,
    pub formats: Vec<Spanned<String>>,
    pub max_size_kb: u64,
    #[serde(default)]
    pub required: bool,
    #[serde(default = "one")]
    pub max_count: u32,
}

fn one() -> u32 {
    1
}

/// A whole workflow file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkflow {
    pub id: Spanned<String>,
    pub version: Spanned<u32>,
    pub title: String,
    pub form_schema: Spanned<String>,
    pub initial: Spanned<String>,
    /// Who may open a case of this workflow (default: the specialist).
    #[serde(default)]
    pub creators: Vec<Spanned<String>>,
    /// A number given at creation, `<prefix>-<n>` (without it, a number is given by the
    /// `assign_number` effect, at the first submission).
    #[serde(default)]
    pub number_prefix: Option<Spanned<String>>,
    /// Who sees its cases ([`crate::engine::visibility::Audience`]; default: the author and
    /// the commission).
    #[serde(default)]
    pub visible_to: Vec<Spanned<String>>,
    pub states: Vec<RawState>,
    pub transitions: Vec<RawTransition>,
    #[serde(default)]
    pub document_types: Vec<RawDocumentType>,
    /// The norm of the whole procedure, from the first registration to a decision, in working
    /// days.
    #[serde(default)]
    pub procedure_sla_working_days: Option<u32>,
    /// What its cases are classed by ([`super::attributes`]).
    #[serde(default)]
    pub attributes: Vec<super::attributes::RawAttribute>,
}

/// A validated state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct State {
    /// Code of the state, e.g. `under_review`.
    pub name: String,
    /// Russian label shown in the cabinet, e.g. «На рассмотрении».
    pub label: String,
    /// Whether the case ends here.
    pub r#final: bool,
    /// Whether the applicant may change the form in this state.
    pub editable: bool,
    /// Deadline for leaving this state, in working days.
    pub sla_working_days: Option<u32>,
    /// Or in working hours (intake hours of working days, Moscow).
    pub sla_working_hours: Option<u32>,
    /// Effects every entering transition runs (after its own).
    pub on_enter: Vec<String>,
    /// Effects every leaving transition runs (before its own).
    pub on_exit: Vec<String>,
    /// The system transition run when the step's deadline passes (else it is escalated).
    pub on_deadline: Option<Deadline>,
    /// The transition the author's message runs in this state.
    pub on_author_reply: Option<String>,
    /// The escalation of a breached deadline of this state.
    pub on_breach: String,
    /// An escalation so many working hours after entering the state.
    pub escalate: Option<Escalate>,
    /// The norm by an attribute's value.
    pub sla_by: Option<super::attributes::SlaBy>,
    /// The assignee is told so many working minutes before the step is due.
    pub warn_before_minutes: Option<u32>,
}

/// A state's timed escalation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Escalate {
    /// Working hours after entering the state.
    pub after_working_hours: u32,
    /// The escalation run then.
    pub to: String,
}

/// A step's norm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sla {
    /// Due at the end of the n-th working day after the step starts.
    WorkingDays(u32),
    /// Due when n minutes of working time have passed.
    WorkingMinutes(u32),
}

/// The transition a passed deadline runs.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Deadline {
    /// A transition from this state open to the `system` role.
    pub transition: String,
    /// The reason it is run with, in Russian.
    pub reason: String,
}

/// A validated transition.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Transition {
    /// Name used in `POST /cases/{id}/transitions/{name}`.
    pub name: String,
    /// Russian label of the action.
    pub label: String,
    /// States the transition may start from.
    pub from: Vec<String>,
    /// State the case moves to.
    pub to: String,
    /// Roles allowed to run it.
    pub roles: Vec<crate::domain::role::Role>,
    /// Named guards that must all pass.
    pub guards: Vec<String>,
    /// Named effects, run in order in the transition's commit.
    pub effects: Vec<String>,
    /// Deadline of the step it starts, in working days, overriding the target state's.
    pub sla_working_days: Option<u32>,
    /// Whether the caller must give a reason.
    pub requires_reason: bool,
    /// Whether an electronic signature must accompany it.
    pub requires_signature: bool,
    /// The notice its `notify` sends instead of the one the states imply.
    pub notice: Option<String>,
}

/// A validated document type.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentType {
    /// Code of the type.
    pub code: String,
    /// Russian label.
    pub label: String,
    /// Allowed formats (`pdf`, `jpeg`, `png`).
    pub formats: Vec<String>,
    /// Maximum size in KiB.
    pub max_size_kb: u64,
    /// Whether it must be present before submission.
    pub required: bool,
    /// How many files of this type a case may hold.
    pub max_count: u32,
}

/// A validated, immutable workflow definition, identified by the SHA-256 of its source.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Definition {
    /// Workflow id, e.g. `periodic_accreditation`.
    pub id: String,
    /// Version number declared in the file.
    pub version: u32,
    /// Hex SHA-256 of the YAML source and the form schema: what a case pins.
    pub hash: String,
    /// Russian title.
    pub title: String,
    /// File name of the JSON Schema for the form, under `schemas/`.
    pub form_schema: String,
    /// The state a new case starts in.
    pub initial: String,
    /// Roles that may open a case of this workflow.
    pub creators: Vec<crate::domain::role::Role>,
    /// The prefix of the number a case gets at creation (`ACCREDO` gives `ACCREDO-123`).
    pub number_prefix: Option<String>,
    /// Who sees its cases.
    pub visible_to: Vec<crate::engine::visibility::Audience>,
    /// All states.
    pub states: Vec<State>,
    /// All transitions.
    pub transitions: Vec<Transition>,
    /// Document types with limits.
    pub document_types: Vec<DocumentType>,
    /// The norm of the whole procedure (first registration to a decision), in working days.
    pub procedure_sla_working_days: Option<u32>,
    /// What its cases are classed by.
    pub attributes: Vec<super::attributes::Attribute>,
}

impl Definition {
    /// The state with that name.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|s| s.name == name)
    }

    /// The deadline, in working days, of the step that `t` starts.
    pub fn sla_of(&self, t: &Transition) -> Option<u32> {
        t.sla_working_days
            .or_else(|| self.state(&t.to).and_then(|s| s.sla_working_days))
    }

    /// The deadline of the step that `t` starts for a case with these attribute values: the
    /// transition's working days, else the target state's norm.
    pub fn deadline_of(&self, t: &Transition, values: &super::attributes::Values) -> Option<Sla> {
        match t.sla_working_days {
            Some(days) => Some(Sla::WorkingDays(days)),
            None => self.norm_of(&t.to, values),
        }
    }

    /// The norm of a step in `state` for a case with these attribute values: by the
    /// attribute the state's `sla_by` names, else its working days or hours.
    pub fn norm_of(&self, state: &str, values: &super::attributes::Values) -> Option<Sla> {
        let s = self.state(state)?;
        let by = s.sla_by.as_ref().and_then(|by| {
            let value = values.get(&by.attribute)?;
            by.norms.get(value).copied()
        });
        by.or(s.sla_working_days.map(Sla::WorkingDays)).or(s
            .sla_working_hours
            .map(|h| Sla::WorkingMinutes(h.saturating_mul(60))))
    }

    /// The attribute with that name.
    pub fn attribute(&self, name: &str) -> Option<&super::attributes::Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Every effect `t` runs from state `from`, in order, in two parts: the left state's
    /// `on_exit` and the transition's own (which may class the case, so the step's norm is
    /// known only after them), then the entered state's `on_enter`.
    pub fn effects_of<'a>(&'a self, from: &str, t: &'a Transition) -> (Vec<&'a str>, Vec<&'a str>) {
        let exit = self
            .state(from)
            .map(|s| s.on_exit.as_slice())
            .unwrap_or_default();
        let enter = self
            .state(&t.to)
            .map(|s| s.on_enter.as_slice())
            .unwrap_or_default();
        (
            exit.iter().chain(&t.effects).map(String::as_str).collect(),
            enter.iter().map(String::as_str).collect(),
        )
    }

    /// The names of the states that are not final (a case in one is still open).
    pub fn open_states(&self) -> Vec<String> {
        self.states
            .iter()
            .filter(|s| !s.r#final)
            .map(|s| s.name.clone())
            .collect()
    }

    /// The transition with that name.
    pub fn transition(&self, name: &str) -> Option<&Transition> {
        self.transitions.iter().find(|t| t.name == name)
    }

    /// Russian label of a state (the code itself if unknown).
    pub fn label_of<'a>(&'a self, state: &'a str) -> &'a str {
        self.state(state).map_or(state, |s| s.label.as_str())
    }
}

/// Hex SHA-256 over the YAML source and the form schema: the identity a case pins.
pub fn content_hash(yaml: &str, form_schema: &str) -> String {
    let mut h = Sha256::new();
    h.update(yaml.as_bytes());
    h.update([0u8]);
    h.update(form_schema.as_bytes());
    hex::encode(h.finalize())
}
