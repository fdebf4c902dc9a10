//! Loading and validating a workflow definition: every problem is reported with file, line
//! and the item it concerns.

use super::definition::{Definition, DocumentType, RawWorkflow, State, Transition};
use super::guards;
use crate::domain::role::Role;
use marked_yaml::{LoadError, LoaderOptions, Spanned};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// One problem in a workflow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File the definition came from.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The item concerned (`state draft`, `transition submit`, ...).
    pub item: String,
    /// Stable code (`unknown_state`, `unreachable_state`, ...).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: ", self.file)?,
            None => write!(f, "{}: ", self.file)?,
        }
        write!(f, "{}: {} [{}]", self.item, self.message, self.code)
    }
}

const FORMATS: [&str; 3] = ["pdf", "jpeg", "png"];

struct Collector<'a> {
    file: &'a str,
    problems: Vec<Problem>,
}

impl Collector<'_> {
    fn push<T>(&mut self, at: &Spanned<T>, item: String, code: &'static str, message: String) {
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line: at.span().start().map(|m| m.line()),
            item,
            code,
            message,
        });
    }
}

/// Parses and validates one definition. `file` is used only in problem reports; the
/// content hash is left empty for the catalog to fill in (it also covers the form schema).
pub fn load(file: &str, source: &str) -> Result<Definition, Vec<Problem>> {
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    let raw: RawWorkflow = marked_yaml::from_yaml_with_options(0, source, options)
        .map_err(|e| vec![yaml_problem(file, &e)])?;
    check(file, raw)
}

fn yaml_problem(file: &str, err: &marked_yaml::FromYamlError) -> Problem {
    let line = match err {
        marked_yaml::FromYamlError::ParseYaml(load) => match load {
            LoadError::TopLevelMustBeMapping(m)
            | LoadError::TopLevelMustBeSequence(m)
            | LoadError::UnexpectedAnchor(m)
            | LoadError::MappingKeyMustBeScalar(m)
            | LoadError::UnexpectedTag(m)
            | LoadError::ScanError(m, _) => Some(m.line()),
            LoadError::DuplicateKey(inner) => inner.key.span().start().map(|m| m.line()),
        },
        marked_yaml::FromYamlError::FromNode(node) => node.start_mark().map(|m| m.line()),
    };
    let item = match err {
        marked_yaml::FromYamlError::FromNode(node) => node.path().unwrap_or("document").to_owned(),
        marked_yaml::FromYamlError::ParseYaml(_) => "document".to_owned(),
    };
    Problem {
        file: file.to_owned(),
        line,
        item,
        code: "bad_yaml",
        message: err.to_string(),
    }
}

fn check(file: &str, raw: RawWorkflow) -> Result<Definition, Vec<Problem>> {
    let mut c = Collector {
        file,
        problems: Vec::new(),
    };
    if !is_code(&raw.id) {
        c.push(
            &raw.id,
            format!("id {}", *raw.id),
            "bad_name",
            "id must be snake_case latin".into(),
        );
    }
    if *raw.version == 0 {
        c.push(
            &raw.version,
            "version".into(),
            "bad_version",
            "version must be a positive number".into(),
        );
    }

    let mut state_names = BTreeSet::new();
    for s in &raw.states {
        if !is_code(&s.name) {
            c.push(
                &s.name,
                format!("state {}", *s.name),
                "bad_name",
                "state name must be snake_case latin".into(),
            );
        }
        if !state_names.insert(s.name.as_str()) {
            c.push(
                &s.name,
                format!("state {}", *s.name),
                "duplicate_state",
                "state declared twice".into(),
            );
        }
    }
    if raw.states.iter().all(|s| !s.r#final) {
        c.push(
            &raw.id,
            "states".into(),
            "no_final_state",
            "no state is marked final".into(),
        );
    }
    if !state_names.contains(raw.initial.as_str()) {
        c.push(
            &raw.initial,
            format!("initial {}", *raw.initial),
            "unknown_state",
            "initial state is not declared".into(),
        );
    }

    let mut transition_names = BTreeSet::new();
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut transitions = Vec::new();
    for t in &raw.transitions {
        let item = format!("transition {}", *t.name);
        if !is_code(&t.name) {
            c.push(
                &t.name,
                item.clone(),
                "bad_name",
                "transition name must be snake_case latin".into(),
            );
        }
        if !transition_names.insert(t.name.as_str()) {
            c.push(
                &t.name,
                item.clone(),
                "duplicate_transition",
                "transition declared twice".into(),
            );
        }
        if t.from.is_empty() {
            c.push(
                &t.name,
                item.clone(),
                "no_source_state",
                "`from` lists no state".into(),
            );
        }
        for from in &t.from {
            if !state_names.contains(from.as_str()) {
                c.push(
                    from,
                    item.clone(),
                    "unknown_state",
                    format!("unknown state `{}` in `from`", **from),
                );
            } else if raw.states.iter().any(|s| s.r#final && *s.name == **from) {
                c.push(
                    from,
                    item.clone(),
                    "transition_from_final",
                    format!("final state `{}` cannot have transitions", **from),
                );
            }
            edges.entry(from.as_str()).or_default().push(t.to.as_str());
        }
        if !state_names.contains(t.to.as_str()) {
            c.push(
                &t.to,
                item.clone(),
                "unknown_state",
                format!("unknown state `{}` in `to`", *t.to),
            );
        }
        let mut roles = Vec::new();
        for r in &t.roles {
            match r.parse::<Role>() {
                Ok(role) => roles.push(role),
                Err(_) => c.push(
                    r,
                    item.clone(),
                    "unknown_role",
                    format!("unknown role `{}`", **r),
                ),
            }
        }
        if t.roles.is_empty() {
            c.push(
                &t.name,
                item.clone(),
                "no_roles",
                "no role may run this transition".into(),
            );
        }
        if t.requires_signature {
            c.push(
                &t.name,
                item.clone(),
                "unsupported_feature",
                "requires_signature is not supported by this installation yet".into(),
            );
        }
        for g in &t.guards {
            if !guards::is_known(g) {
                c.push(
                    g,
                    item.clone(),
                    "unknown_guard",
                    format!("unknown guard `{}`", **g),
                );
            }
        }
        for (i, e) in t.effects.iter().enumerate() {
            if !super::effects::is_known(e) {
                c.push(
                    e,
                    item.clone(),
                    "unknown_effect",
                    format!("unknown effect `{}`", **e),
                );
            }
            if e.as_str() == "issue_receipt" {
                let numbered = t.effects[..i].iter().any(|p| p.as_str() == "assign_number");
                let signed = t.guards.iter().any(|g| g.as_str() == "signature_valid");
                if !numbered || !signed {
                    c.push(
                        e,
                        item.clone(),
                        "effect_prerequisite_missing",
                        "issue_receipt needs the guard signature_valid and the effect assign_number before it".into(),
                    );
                }
            }
        }
        transitions.push(Transition {
            name: t.name.to_string(),
            label: t.label.clone(),
            from: t.from.iter().map(|s| s.to_string()).collect(),
            to: t.to.to_string(),
            roles,
            guards: t.guards.iter().map(|s| s.to_string()).collect(),
            effects: t.effects.iter().map(|s| s.to_string()).collect(),
            sla_working_days: t.sla_working_days,
            requires_reason: t.requires_reason,
            requires_signature: t.requires_signature,
            notice: t.notice.as_ref().map(|n| n.to_string()),
        });
        if let Some(n) = &t.notice
            && !crate::notify::templates::EVENTS.contains(&n.as_str())
        {
            c.push(
                n,
                item.clone(),
                "unknown_notice",
                format!(
                    "unknown notice `{}` (one of: {})",
                    **n,
                    crate::notify::templates::EVENTS.join(", ")
                ),
            );
        }
    }

    check_graph(&mut c, &raw, &edges, &state_names);
    check_timers(&mut c, &raw);
    let (attributes, found) = super::attributes::check(&raw.attributes);
    for (at, item, code, message) in found {
        c.push(at, item, code, message);
    }
    let mut sla_by = Vec::new();
    for s in &raw.states {
        let Some(by) = &s.sla_by else {
            sla_by.push(None);
            continue;
        };
        let own = s.sla_working_days.is_some() || s.sla_working_hours.is_some();
        let (checked, found) = super::attributes::check_sla_by(by, &attributes, &s.name, own);
        for (at, item, code, message) in found {
            c.push(at, item, code, message);
        }
        sla_by.push(checked);
    }

    let mut doc_codes = BTreeSet::new();
    let mut document_types = Vec::new();
    for d in &raw.document_types {
        let item = format!("document type {}", *d.code);
        if !doc_codes.insert(d.code.as_str()) {
            c.push(
                &d.code,
                item.clone(),
                "duplicate_document_type",
                "document type declared twice".into(),
            );
        }
        for f in &d.formats {
            if !FORMATS.contains(&f.as_str()) {
                c.push(
                    f,
                    item.clone(),
                    "unknown_format",
                    format!("format `{}` is not one of pdf, jpeg, png", **f),
                );
            }
        }
        document_types.push(DocumentType {
            code: d.code.to_string(),
            label: d.label.clone(),
            formats: d.formats.iter().map(|s| s.to_string()).collect(),
            max_size_kb: d.max_size_kb,
            required: d.required,
            max_count: d.max_count,
        });
    }

    // Who opens a case: a person's role (the engine itself opens none).
    let mut creators = Vec::new();
    for r in &raw.creators {
        match r.parse::<Role>() {
            Ok(role) if role.is_grantable() => creators.push(role),
            _ => c.push(
                r,
                "creators".into(),
                "unknown_role",
                format!("unknown role `{}` among the creators", **r),
            ),
        }
    }
    if creators.is_empty() {
        creators.push(Role::Specialist);
    }
    if let Some(p) = &raw.number_prefix {
        let good = p.len() <= 16
            && p.starts_with(|c: char| c.is_ascii_uppercase())
            && p.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !good {
            c.push(
                p,
                "number_prefix".into(),
                "bad_number_prefix",
                format!("number prefix `{}` must be 1-16 capital Latin letters and digits, starting with a letter", **p),
            );
        }
    }

    // Who sees the cases: named audiences, by default the author and the commission.
    let mut visible_to = Vec::new();
    for a in &raw.visible_to {
        match super::visibility::Audience::parse(a) {
            Some(audience) if !visible_to.contains(&audience) => visible_to.push(audience),
            Some(_) => {}
            None => c.push(
                a,
                "visible_to".into(),
                "unknown_audience",
                format!(
                    "unknown audience `{}` (one of: {})",
                    **a,
                    super::visibility::Audience::ALL
                        .map(|a| a.as_str())
                        .join(", ")
                ),
            ),
        }
    }
    if visible_to.is_empty() {
        visible_to = super::visibility::DEFAULT.to_vec();
    }
    // The author's answer runs a transition from that state open to the author.
    for s in &raw.states {
        let Some(t) = &s.on_author_reply else {
            continue;
        };
        let fits = raw.transitions.iter().any(|rt| {
            *rt.name == **t
                && rt.from.iter().any(|f| **f == *s.name)
                && rt.roles.iter().any(|r| r.as_str() == "author")
        });
        if !fits {
            c.push(
                t,
                format!("state {}", *s.name),
                "bad_author_reply",
                format!(
                    "on_author_reply `{}` must be a transition from `{}` open to the author",
                    **t, *s.name
                ),
            );
        }
    }

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok(Definition {
        id: raw.id.to_string(),
        version: *raw.version,
        hash: String::new(),
        title: raw.title,
        form_schema: raw.form_schema.to_string(),
        initial: raw.initial.to_string(),
        creators,
        number_prefix: raw.number_prefix.map(|p| p.to_string()),
        visible_to,
        states: raw
            .states
            .into_iter()
            .zip(sla_by)
            .map(|(s, sla_by)| State {
                name: s.name.to_string(),
                label: s.label,
                r#final: s.r#final,
                editable: s.editable,
                sla_working_days: s.sla_working_days,
                sla_working_hours: s.sla_working_hours,
                on_enter: s.on_enter.iter().map(|e| e.to_string()).collect(),
                on_exit: s.on_exit.iter().map(|e| e.to_string()).collect(),
                on_deadline: s.on_deadline.map(|d| super::definition::Deadline {
                    transition: d.transition.to_string(),
                    reason: d.reason,
                }),
                on_author_reply: s.on_author_reply.map(|t| t.to_string()),
                on_breach: s
                    .on_breach
                    .map_or_else(|| super::escalations::DEFAULT.to_owned(), |e| e.to_string()),
                escalate: s.escalate.map(|e| super::definition::Escalate {
                    after_working_hours: e.after_working_hours,
                    to: e.to.to_string(),
                }),
                sla_by,
                warn_before_minutes: s.warn_before.as_ref().and_then(|w| match w.norm() {
                    Some(super::definition::Sla::WorkingMinutes(m)) => Some(m),
                    _ => None,
                }),
            })
            .collect(),
        transitions,
        document_types,
        procedure_sla_working_days: raw.procedure_sla_working_days,
        attributes,
    })
}

/// State effects and deadlines: known names in the right place, and a deadline transition
/// that the timer can run (from this state, open to `system`) on a state whose every entry
/// starts the timer and whose every exit cancels it.
fn check_timers(c: &mut Collector<'_>, raw: &RawWorkflow) {
    use super::effects::{Place, place_of};
    for s in &raw.states {
        let item = format!("state {}", *s.name);
        for (list, place) in [(&s.on_enter, Place::Enter), (&s.on_exit, Place::Exit)] {
            for e in list {
                match place_of(e) {
                    None => c.push(
                        e,
                        item.clone(),
                        "unknown_effect",
                        format!("unknown effect `{}`", **e),
                    ),
                    Some(allowed) if !allowed.contains(&place) => c.push(
                        e,
                        item.clone(),
                        "effect_misplaced",
                        format!("effect `{}` cannot run on {}", **e, place.as_str()),
                    ),
                    Some(_) => {}
                }
            }
        }
        let starts = s.on_enter.iter().any(|e| e.as_str() == "start_timer");
        let entering_without_deadline = raw
            .transitions
            .iter()
            .filter(|t| t.to.as_str() == s.name.as_str())
            .any(|t| t.sla_working_days.is_none());
        if s.sla_working_days.is_some() && s.sla_working_hours.is_some() {
            c.push(
                &s.name,
                item.clone(),
                "two_deadlines",
                "a state has its deadline in working days or in working hours, not both".into(),
            );
        }
        let state_deadline = s.sla_working_days.is_some() || s.sla_working_hours.is_some();
        if starts && !state_deadline && entering_without_deadline {
            c.push(
                &s.name,
                item.clone(),
                "timer_without_deadline",
                "start_timer needs sla_working_days or sla_working_hours on the state, or sla_working_days on every transition into it"
                    .into(),
            );
        }
        let cancels = s.on_exit.iter().any(|e| e.as_str() == "cancel_timers");
        if starts && (s.r#final || !cancels) {
            c.push(
                &s.name,
                item.clone(),
                "timer_not_cancelled",
                "a state that starts a timer must not be final and must cancel it on exit (on_exit: [cancel_timers])".into(),
            );
        }
        if let Some(e) = &s.on_breach
            && !super::escalations::is_known(e)
        {
            c.push(
                e,
                item.clone(),
                "unknown_escalation",
                format!(
                    "unknown escalation `{}` (one of: {})",
                    **e,
                    super::escalations::ESCALATIONS.join(", ")
                ),
            );
        }
        if let Some(w) = &s.warn_before {
            let minutes = matches!(w.norm(), Some(super::definition::Sla::WorkingMinutes(_)));
            let state_deadline = s.sla_working_days.is_some() || s.sla_working_hours.is_some();
            if !minutes || !starts || !cancels || !state_deadline {
                c.push(
                    &s.name,
                    item.clone(),
                    "warning_without_timer",
                    "warn_before needs one positive working_hours or working_minutes, a deadline on the state, start_timer on entry and cancel_timers on exit".into(),
                );
            }
        }
        if let Some(e) = &s.escalate {
            if !super::escalations::is_known(&e.to) {
                c.push(
                    &e.to,
                    item.clone(),
                    "unknown_escalation",
                    format!(
                        "unknown escalation `{}` (one of: {})",
                        *e.to,
                        super::escalations::ESCALATIONS.join(", ")
                    ),
                );
            }
            if !starts || !cancels || e.after_working_hours == 0 {
                c.push(
                    &e.to,
                    item.clone(),
                    "escalation_without_timer",
                    "escalate needs after_working_hours above 0, start_timer on entry and cancel_timers on exit".into(),
                );
            }
        }
        let Some(d) = &s.on_deadline else { continue };
        if d.reason.trim().is_empty() {
            c.push(
                &d.transition,
                item.clone(),
                "deadline_reason_missing",
                "on_deadline needs the reason its transition is run with".into(),
            );
        }
        let runnable = raw.transitions.iter().any(|t| {
            t.name.as_str() == d.transition.as_str()
                && t.from.iter().any(|f| f.as_str() == s.name.as_str())
                && t.roles.iter().any(|r| r.as_str() == "system")
        });
        if !runnable || !starts || !cancels {
            c.push(
                &d.transition,
                item.clone(),
                "deadline_transition_invalid",
                "on_deadline needs a transition from this state open to the system role, start_timer on entry and cancel_timers on exit".into(),
            );
        }
    }
    for t in &raw.transitions {
        for e in &t.effects {
            if e.as_str() == "start_procedure_timer" && raw.procedure_sla_working_days.is_none() {
                c.push(
                    e,
                    format!("transition {}", *t.name),
                    "timer_without_deadline",
                    "start_procedure_timer needs procedure_sla_working_days".into(),
                );
            }
            if place_of(e).is_some_and(|p| !p.contains(&Place::Transition)) {
                c.push(
                    e,
                    format!("transition {}", *t.name),
                    "effect_misplaced",
                    format!("effect `{}` cannot run on a transition", **e),
                );
            }
        }
    }
}

/// Unreachable states and states from which no final state can be reached.
fn check_graph(
    c: &mut Collector<'_>,
    raw: &RawWorkflow,
    edges: &BTreeMap<&str, Vec<&str>>,
    states: &BTreeSet<&str>,
) {
    let reachable = walk([raw.initial.as_str()], |s| {
        edges.get(s).cloned().unwrap_or_default()
    });
    let mut reverse: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, tos) in edges {
        for to in tos {
            reverse.entry(to).or_default().push(from);
        }
    }
    let finals = raw
        .states
        .iter()
        .filter(|s| s.r#final)
        .map(|s| s.name.as_str());
    let can_finish = walk(finals, |s| reverse.get(s).cloned().unwrap_or_default());
    for s in &raw.states {
        let name = s.name.as_str();
        if !states.contains(name) {
            continue;
        }
        if !reachable.contains(name) {
            c.push(
                &s.name,
                format!("state {name}"),
                "unreachable_state",
                "no transition leads to this state from the initial one".into(),
            );
        }
        if !can_finish.contains(name) {
            c.push(
                &s.name,
                format!("state {name}"),
                "no_path_to_final",
                "no final state can be reached from this state".into(),
            );
        }
    }
}

fn walk<'a>(
    start: impl IntoIterator<Item = &'a str>,
    next: impl Fn(&'a str) -> Vec<&'a str>,
) -> BTreeSet<&'a str> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut queue: VecDeque<&str> = start.into_iter().collect();
    while let Some(s) = queue.pop_front() {
        if seen.insert(s) {
            queue.extend(next(s));
        }
    }
    seen
}

pub(super) fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && s.as_bytes()[0].is_ascii_lowercase()
}
