//! Support requests by e-mail. A message to the desk's address opens a request for the person
//! whose cabinet e-mail (the address they receive notices at) sent it, and sends it at once:
//! its number reaches them as the request's first notice. A message to the address with a
//! request's reply token (`support+<token>@…`, the `Reply-To` of every e-mail about the
//! request) is the author's comment on that request — matched by the token, never by the
//! subject. Each message is taken once: a retried delivery of the same `Message-ID` is
//! answered with what the first one did.

use super::access::load;
use super::messages::{self, NewMessage};
use super::{Rules, ServiceError};
use crate::domain::ids::UserId;
use crate::engine::Actor;
use crate::store::idempotency::{self, Remembered};
use crate::store::{DbConnection, StoreError, support, users};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

/// The workflow of requests opened by e-mail.
pub const WORKFLOW: &str = "support_request";

/// The longest subject kept (the form's limit).
const SUBJECT: usize = 200;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Why a message was not taken.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Nobody has this address in their cabinet.
    #[error("the sender is not known")]
    UnknownSender,
    /// The person has not consented to the transfer of their data.
    #[error("consent required")]
    NoConsent,
    /// The reply token matches no request of the sender.
    #[error("unknown reply token")]
    UnknownToken,
    /// The message cannot be read.
    #[error("unreadable message: {0}")]
    Unreadable(&'static str),
    /// The use case refused it (as it would a request from the cabinet).
    #[error("refused: {0}")]
    Service(ServiceError),
}

impl From<ServiceError> for Refused {
    fn from(e: ServiceError) -> Self {
        Refused::Service(e)
    }
}

impl From<diesel::result::Error> for Refused {
    fn from(e: diesel::result::Error) -> Self {
        Refused::Service(StoreError::from(e).into())
    }
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Service(e.into())
    }
}

/// What a message did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Received {
    /// The request it opened or commented on.
    pub case_id: String,
    /// Its number.
    pub number: Option<String>,
    /// Whether it opened the request (else it is a comment).
    pub opened: bool,
}

/// The one user whose cabinet e-mail is `address`.
fn sender(conn: &mut DbConnection, address: &str) -> Result<Option<String>, StoreError> {
    use crate::store::schema::notification_preferences as p;
    let found: Vec<String> = p::table
        .filter(p::channel.eq("email"))
        .filter(p::address.is_not_null())
        .filter(lower(p::address.assume_not_null()).eq(address.to_lowercase()))
        .select(p::user_id)
        .distinct()
        .limit(2)
        .load(conn)?;
    Ok(match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}

/// The text of a reply without the quoted message below it.
fn reply_text(body: &str) -> String {
    let mut kept = Vec::new();
    for line in body.lines() {
        let t = line.trim_start();
        if t.starts_with('>') {
            break;
        }
        // "On <date>, <someone> wrote:" before a quote, in Russian or English mail clients.
        if (t.ends_with("написал(а):") || t.ends_with("wrote:") || t.ends_with("пишет:"))
            && !kept.is_empty()
        {
            break;
        }
        kept.push(line);
    }
    kept.join("\n").trim().to_owned()
}

fn truncated(s: &str, chars: usize) -> String {
    s.chars().take(chars).collect()
}

/// Takes one message: `raw` as received, `token` the reply token of the recipient address.
pub fn receive(
    conn: &mut DbConnection,
    rules: Rules<'_>,
    settings: messages::Settings,
    raw: &[u8],
    token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Received, Refused> {
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .ok_or(Refused::Unreadable("not a message"))?;
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .ok_or(Refused::Unreadable("no sender"))?
        .to_owned();
    let user = sender(conn, &from)?.ok_or(Refused::UnknownSender)?;
    if !crate::store::consents::granted(conn, &user).map_err(StoreError::from)? {
        return Err(Refused::NoConsent);
    }
    let id = UserId::from_stored(user.clone());
    let actor = Actor::new(
        id.clone(),
        users::roles_of(conn, &id).map_err(StoreError::from)?,
    );
    // The same message delivered again is answered with what it did the first time.
    let key = match message.message_id() {
        Some(m) => format!("mail:{}", truncated(m, 200)),
        None => format!(
            "mail:sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(raw))
        ),
    };
    if let Some(r) = idempotency::find(conn, &user, &key)? {
        return serde_json::from_str(&r.response)
            .map_err(|e| StoreError::Corrupt(format!("remembered mail: {e}")).into());
    }
    let text = message
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    let subject = message.subject().unwrap_or_default().trim().to_owned();
    let received = match token {
        Some(token) => {
            let case_id = support::by_reply_token(conn, token)?.ok_or(Refused::UnknownToken)?;
            let v = load(conn, rules.catalog, &case_id)?;
            if v.owner != actor.user {
                return Err(Refused::UnknownToken);
            }
            let body = reply_text(&text);
            let body = if body.is_empty() {
                subject.clone()
            } else {
                body
            };
            let m = NewMessage {
                case_id: case_id.clone(),
                body: truncated(&body, messages::MAX_BODY),
                attachments: Vec::new(),
            };
            messages::post(conn, rules, &actor, &m, settings, now)?;
            Received {
                case_id,
                number: v.case.number,
                opened: false,
            }
        }
        None => return open(conn, rules, &actor, (&subject, &text, &from), &key, now),
    };
    idempotency::insert(conn, &remember(&user, &key, &received, now)?)?;
    Ok(received)
}

/// The row that answers a retried delivery of the message `key` with `received`.
fn remember(
    user: &str,
    key: &str,
    received: &Received,
    now: DateTime<Utc>,
) -> Result<Remembered, StoreError> {
    Ok(Remembered {
        user_id: user.to_owned(),
        idem_key: key.to_owned(),
        request_hash: "mail".into(),
        case_id: received.case_id.clone(),
        response: serde_json::to_string(received)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: now.naive_utc(),
    })
}

/// Opens and sends a request from a message, in one transaction with the row that answers its
/// retried delivery: created, filled in from the message (`(subject, text, sender)`) and sent.
fn open(
    conn: &mut DbConnection,
    rules: Rules<'_>,
    actor: &Actor,
    (subject, text, from): (&str, &str, &str),
    key: &str,
    now: DateTime<Utc>,
) -> Result<Received, Refused> {
    let subject = if subject.is_empty() {
        "Обращение по электронной почте".to_owned()
    } else {
        truncated(subject, SUBJECT)
    };
    let description = if text.trim().is_empty() {
        subject.clone()
    } else {
        truncated(text.trim(), 4000)
    };
    let filled = json!({
        "subject": subject,
        "description": description,
        "category": "other",
        "applicant": {"email": from},
    });
    let case = crate::store::write_tx(conn, |conn| -> Result<_, ServiceError> {
        let draft = super::cases::insert_draft_with(
            conn,
            rules.catalog,
            actor,
            WORKFLOW,
            filled,
            json!({"channel": "email"}),
            now,
        )?;
        let workflow = rules
            .catalog
            .current(WORKFLOW)
            .ok_or(ServiceError::UnknownWorkflow)?;
        let v = super::access::assemble(conn, draft, workflow)?;
        let sent = super::transition::run_within(conn, &v, rules, actor, "send", now)?;
        let received = Received {
            case_id: sent.id,
            number: sent.number,
            opened: true,
        };
        idempotency::insert(conn, &remember(actor.user.as_str(), key, &received, now)?)
            .map_err(StoreError::from)?;
        Ok(received)
    })?;
    Ok(case)
}
