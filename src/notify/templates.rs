//! Notification templates: one minijinja file per event and channel, with a `subject` and a
//! `body` block. Every template is parsed and rendered against a sample of every variable at
//! load, so a missing file, a syntax error or a misspelt variable stops `workflows check` and
//! the server's start instead of a notification at 3 a.m.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::path::Path;

/// Every event a notification is sent for.
pub const EVENTS: &[&str] = &[
    "submission_registered",
    "status_changed",
    "revision_requested",
    "decision",
    "deadline_breached",
];

/// Every channel with templates.
pub const CHANNELS: &[&str] = &["inapp"];

/// What a template may use.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// The case's number (`2026-77-000001`), or its id before it has one.
    pub number: String,
    /// The workflow's title.
    pub workflow: String,
    /// The new state's label.
    pub state: String,
    /// The transition's label.
    pub transition: String,
    /// The reason given, if any.
    pub reason: Option<String>,
    /// The next step's due date (`ДД.ММ.ГГГГ`), if it has one.
    pub due_on: Option<String>,
    /// Whether that date is provisional.
    pub due_provisional: bool,
    /// A submission: when it arrived and when it was registered (Moscow time).
    pub received_at: Option<String>,
    /// See `received_at`.
    pub registered_at: Option<String>,
    /// A breached deadline: `step` or `procedure`.
    pub breach: Option<String>,
}

impl Context {
    fn sample() -> Self {
        Context {
            number: "2026-77-000001".into(),
            workflow: "Периодическая аккредитация специалиста".into(),
            state: "На рассмотрении".into(),
            transition: "Подать заявление".into(),
            reason: Some("Приложите копию диплома".into()),
            due_on: Some("31.03.2026".into()),
            due_provisional: true,
            received_at: Some("02.03.2026 10:00".into()),
            registered_at: Some("02.03.2026 10:00".into()),
            breach: Some("step".into()),
        }
    }
}

/// A rendered notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// The text.
    pub body: String,
}

/// A template problem: the file and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} [template_invalid]", self.file, self.message)
    }
}

/// The checked templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

fn name(event: &str, channel: &str) -> String {
    format!("{event}.{channel}.j2")
}

impl Templates {
    /// The templates in `dir` (`{event}.{channel}.j2`).
    pub fn from_dir(dir: &Path) -> Result<Self, Vec<Problem>> {
        let mut sources = Vec::new();
        let mut problems = Vec::new();
        for event in EVENTS {
            for channel in CHANNELS {
                let file = name(event, channel);
                match std::fs::read_to_string(dir.join(&file)) {
                    Ok(text) => sources.push((file, text)),
                    Err(e) => problems.push(Problem {
                        file: dir.join(&file).display().to_string(),
                        message: format!("cannot read: {e}"),
                    }),
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Self::from_sources(sources)
    }

    /// Parses and checks `(file name, text)` pairs: every event and channel present, each
    /// rendering both blocks from the sample context without an error.
    pub fn from_sources(sources: Vec<(String, String)>) -> Result<Self, Vec<Problem>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut problems = Vec::new();
        for (file, text) in sources {
            if let Err(e) = env.add_template_owned(file.clone(), text) {
                problems.push(Problem {
                    file,
                    message: e.to_string(),
                });
            }
        }
        let templates = Templates { env };
        for event in EVENTS {
            for channel in CHANNELS {
                let file = name(event, channel);
                if problems.iter().any(|p| p.file == file) {
                    continue;
                }
                if let Err(message) = templates.render(event, channel, &Context::sample()) {
                    problems.push(Problem { file, message });
                }
            }
        }
        if problems.is_empty() {
            Ok(templates)
        } else {
            Err(problems)
        }
    }

    /// Renders the template of `event` on `channel`.
    pub fn render(&self, event: &str, channel: &str, cx: &Context) -> Result<Rendered, String> {
        let t = self
            .env
            .get_template(&name(event, channel))
            .map_err(|e| e.to_string())?;
        let mut captured = t.render_captured(cx).map_err(|e| e.to_string())?;
        let (subject, body) = captured.with_state_mut(|state| {
            Ok::<_, String>((
                state.render_block("subject").map_err(|e| e.to_string())?,
                state.render_block("body").map_err(|e| e.to_string())?,
            ))
        })?;
        let subject = subject.trim().to_owned();
        if subject.is_empty() || subject.contains('\n') {
            return Err("the subject block must be one non-empty line".into());
        }
        Ok(Rendered {
            subject,
            body: body.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Vec<(String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/notifications");
        EVENTS
            .iter()
            .flat_map(|e| CHANNELS.iter().map(move |c| name(e, c)))
            .map(|f| {
                let text = std::fs::read_to_string(dir.join(&f)).unwrap_or_default();
                (f, text)
            })
            .collect()
    }

    #[test]
    fn the_shipped_templates_are_complete_and_render() {
        let t = Templates::from_sources(shipped()).map_err(|p| format!("{p:?}"));
        assert!(t.is_ok(), "{t:?}");
    }

    #[test]
    fn a_misspelt_variable_or_a_broken_tag_is_refused_at_load() {
        let mut sources = shipped();
        sources[1].1 = sources[1].1.replace("{{ state }}", "{{ stat }}");
        sources[2].1 = sources[2].1.replace("{% endif %}", "");
        let problems = Templates::from_sources(sources).err().unwrap_or_default();
        let files: Vec<&str> = problems.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(
            files,
            ["revision_requested.inapp.j2", "status_changed.inapp.j2"]
        );
    }
}
