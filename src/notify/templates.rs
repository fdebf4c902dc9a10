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
    // The step is due soon (to the staff member it is assigned to).
    "deadline_near",
    // The step's deadline was extended (a transition's `notice`).
    "deadline_extended",
    "reminder",
    "message",
];

/// Every channel with templates: the cabinet's list, e-mail, SMS and push (the last two
/// through a gateway's webhook).
pub const CHANNELS: &[&str] = &["inapp", "email", "sms", "push"];

/// The outbox channel of the exports to the register (ФРМР): rows whose body is the export's
/// JSON, no template, no person's preference.
pub const REGISTER_CHANNEL: &str = "register";

/// The HTML layout of every e-mail, around the text of its template.
pub const EMAIL_LAYOUT: &str = "email.layout.html.j2";

/// What a template may use.
#[derive(Debug, Clone, Default, Serialize)]
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
    /// A reminder: the accreditation's specialty.
    pub specialty: Option<String>,
    /// A reminder: the last day the accreditation is valid (`ДД.ММ.ГГГГ`).
    pub valid_until: Option<String>,
    /// A reminder: days left until then.
    pub days_left: Option<i64>,
    /// A reminder: the draft application opened for the renewal, if one was.
    pub draft: Option<String>,
    /// A message: who wrote it, as the recipient may see it.
    pub from: Option<String>,
    /// The workflow's id: a workflow's own templates (`{workflow}.{event}.{channel}.j2`) speak
    /// for its cases where it has them.
    #[serde(skip)]
    pub workflow_id: Option<String>,
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
            specialty: Some("Лечебное дело".into()),
            valid_until: Some("31.03.2026".into()),
            days_left: Some(30),
            draft: Some("0193b6c2-7d1e-7000-8000-000000000000".into()),
            from: Some("Аккредитационная подкомиссия".into()),
            workflow_id: None,
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
    /// The HTML part (e-mail only): the text in the e-mail layout.
    pub html: Option<String>,
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
    /// The channels rows are written for: `inapp` always, others once a dispatcher for them is
    /// configured ([`Templates::with_channels`]).
    active: Vec<&'static str>,
}

fn name(event: &str, channel: &str) -> String {
    format!("{event}.{channel}.j2")
}

/// A workflow's own template, `{workflow}.{event}.{channel}.j2`: its event and channel.
fn override_of(file: &str) -> Option<(&'static str, &'static str)> {
    let stem = file.strip_suffix(".j2")?;
    let (rest, channel) = stem.rsplit_once('.')?;
    let (workflow, event) = rest.rsplit_once('.')?;
    let good_id = !workflow.is_empty()
        && workflow
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let event = EVENTS.iter().find(|e| **e == event)?;
    let channel = CHANNELS.iter().find(|c| **c == channel)?;
    good_id.then_some((*event, *channel))
}

impl Templates {
    /// The templates in `dir` (`{event}.{channel}.j2`).
    pub fn from_dir(dir: &Path) -> Result<Self, Vec<Problem>> {
        let mut sources = Vec::new();
        let mut problems = Vec::new();
        match std::fs::read_to_string(dir.join(EMAIL_LAYOUT)) {
            Ok(text) => sources.push((EMAIL_LAYOUT.to_owned(), text)),
            Err(e) => problems.push(Problem {
                file: dir.join(EMAIL_LAYOUT).display().to_string(),
                message: format!("cannot read: {e}"),
            }),
        }
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
        // A workflow's own templates beside them.
        let entries = std::fs::read_dir(dir).map_err(|e| {
            vec![Problem {
                file: dir.display().to_string(),
                message: format!("cannot read: {e}"),
            }]
        })?;
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if override_of(&file).is_none() {
                continue;
            }
            match std::fs::read_to_string(entry.path()) {
                Ok(text) => sources.push((file, text)),
                Err(e) => problems.push(Problem {
                    file: entry.path().display().to_string(),
                    message: format!("cannot read: {e}"),
                }),
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
        // Only the HTML layout escapes; the texts are plain.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html.j2") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        let mut problems = Vec::new();
        let mut overrides = Vec::new();
        for (file, text) in sources {
            if let Some((event, channel)) = override_of(&file) {
                let workflow = file.split_once('.').map_or("", |(w, _)| w).to_owned();
                overrides.push((file.clone(), workflow, event, channel));
            }
            if let Err(e) = env.add_template_owned(file.clone(), text) {
                problems.push(Problem {
                    file,
                    message: e.to_string(),
                });
            }
        }
        let templates = Templates {
            env,
            active: vec!["inapp"],
        };
        if templates.env.get_template(EMAIL_LAYOUT).is_err()
            && !problems.iter().any(|p| p.file == EMAIL_LAYOUT)
        {
            problems.push(Problem {
                file: EMAIL_LAYOUT.into(),
                message: "missing".into(),
            });
        }
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
        for (file, workflow, event, channel) in overrides {
            if problems.iter().any(|p| p.file == file) {
                continue;
            }
            let sample = Context {
                workflow_id: Some(workflow),
                ..Context::sample()
            };
            if let Err(message) = templates.render(event, channel, &sample) {
                problems.push(Problem { file, message });
            }
        }
        if problems.is_empty() {
            Ok(templates)
        } else {
            Err(problems)
        }
    }

    /// Renders the template of `event` on `channel` (the case's workflow's own, if it has one).
    pub fn render(&self, event: &str, channel: &str, cx: &Context) -> Result<Rendered, String> {
        let own = cx.workflow_id.as_ref().and_then(|w| {
            self.env
                .get_template(&format!("{w}.{event}.{channel}.j2"))
                .ok()
        });
        let t = match own {
            Some(t) => t,
            None => self
                .env
                .get_template(&name(event, channel))
                .map_err(|e| e.to_string())?,
        };
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
        let body = body.trim().to_owned();
        if body.is_empty() {
            return Err("the body block is empty".into());
        }
        if channel == "sms" && body.chars().count() > SMS_MAX {
            return Err(format!("an SMS text is longer than {SMS_MAX} characters"));
        }
        let html = if channel == "email" {
            let paragraphs: Vec<&str> = body
                .split("\n\n")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect();
            let layout = self
                .env
                .get_template(EMAIL_LAYOUT)
                .map_err(|e| e.to_string())?;
            Some(
                layout
                    .render(minijinja::context! {
                        subject => &subject, paragraphs => paragraphs, number => &cx.number,
                    })
                    .map_err(|e| format!("{EMAIL_LAYOUT}: {e}"))?,
            )
        } else {
            None
        };
        Ok(Rendered {
            subject,
            body,
            html,
        })
    }

    /// The same templates, writing rows for `channels` as well as `inapp`.
    pub fn with_channels(mut self, channels: &[&str]) -> Self {
        self.active = CHANNELS
            .iter()
            .copied()
            .filter(|c| *c == "inapp" || channels.contains(c))
            .collect();
        self
    }

    /// The channels rows are written for.
    pub fn active(&self) -> &[&'static str] {
        &self.active
    }
}

/// The longest SMS text: four segments of the Cyrillic (UCS-2) alphabet.
pub const SMS_MAX: usize = 4 * 67;

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Vec<(String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/notifications");
        EVENTS
            .iter()
            .flat_map(|e| CHANNELS.iter().map(move |c| name(e, c)))
            .chain([EMAIL_LAYOUT.to_owned()])
            .map(|f| {
                let text = std::fs::read_to_string(dir.join(&f)).unwrap_or_default();
                (f, text)
            })
            .collect()
    }

    #[test]
    fn a_workflow_speaks_through_its_own_templates_and_others_through_the_common_ones() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/notifications");
        let t = Templates::from_dir(&dir).unwrap_or_else(|p| panic!("{p:?}"));
        let mut cx = Context::sample();
        let common = t.render("status_changed", "inapp", &cx).expect("common");
        assert!(common.subject.starts_with("Заявление №"), "{common:?}");
        cx.workflow_id = Some("support_request".into());
        let own = t.render("status_changed", "inapp", &cx).expect("own");
        assert!(own.subject.starts_with("Обращение №"), "{own:?}");
        // A workflow without templates of its own falls back to the common ones.
        cx.workflow_id = Some("periodic_accreditation".into());
        assert_eq!(t.render("status_changed", "inapp", &cx), Ok(common));
        // An override is checked like the others: a misspelt variable is refused at load.
        let mut sources = shipped();
        sources.push((
            "support_request.message.inapp.j2".into(),
            "{% block subject %}{{ numbr }}{% endblock %}{% block body %}x{% endblock %}".into(),
        ));
        let problems = Templates::from_sources(sources).err().unwrap_or_default();
        assert!(
            problems
                .iter()
                .any(|p| p.file == "support_request.message.inapp.j2"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_shipped_templates_are_complete_and_render() {
        let t = Templates::from_sources(shipped()).map_err(|p| format!("{p:?}"));
        assert!(t.is_ok(), "{t:?}");
    }

    #[test]
    fn a_misspelt_variable_or_a_broken_tag_is_refused_at_load() {
        let mut sources = shipped();
        for (file, text) in &mut sources {
            if file == "status_changed.sms.j2" {
                *text = text.replace("{{ state }}", "{{ stat }}");
            }
            if file == "revision_requested.inapp.j2" {
                *text = text.replace("{% endif %}", "");
            }
        }
        let problems = Templates::from_sources(sources).err().unwrap_or_default();
        let mut files: Vec<&str> = problems.iter().map(|p| p.file.as_str()).collect();
        files.sort();
        // The e-mail that extends the broken in-cabinet text is refused with it; the
        // misspelt variable is refused in the SMS and in the push text built on it.
        assert_eq!(
            files,
            [
                "revision_requested.email.j2",
                "revision_requested.inapp.j2",
                "status_changed.push.j2",
                "status_changed.sms.j2"
            ]
        );
    }

    #[test]
    fn an_email_has_an_escaped_html_part_and_an_sms_stays_short() {
        let t = Templates::from_sources(shipped()).unwrap_or_else(|p| panic!("{p:?}"));
        let mut cx = Context::sample();
        cx.reason = Some("<script>alert(1)</script>".into());
        let mail = t
            .render("decision", "email", &cx)
            .unwrap_or_else(|e| panic!("{e}"));
        let html = mail.html.unwrap_or_default();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(mail.body.starts_with("Здравствуйте!"), "{}", mail.body);
        assert!(
            mail.body.contains("<script>alert(1)</script>"),
            "plain text stays plain"
        );
        for event in EVENTS {
            let sms = t
                .render(event, "sms", &cx)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(sms.body.chars().count() <= SMS_MAX, "{event}: {}", sms.body);
            assert!(sms.html.is_none());
        }
    }
}
