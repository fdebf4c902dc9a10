//! The message thread of a case between its applicant and the commission: each message is
//! audited (in the case's own `messages:<case>` chain, so writing one does not change the
//! version the applicant edits against), may attach documents of the case, and tells the other
//! side through the outbox. The applicant sees the commission's role, not a reviewer's name,
//! when the installation is set so.

use super::access::load_visible;
use super::{RefusalKind, ServiceError};
use crate::audit::{self, Entry};
use crate::domain::role::Role;
use crate::engine::Actor;
use crate::engine::catalog::Catalog;
use crate::notify::outbox::{Audience, case_context, outbox_rows};
use crate::notify::templates::Context;
use crate::store::messages::{self as rows, MessageRow};
use crate::store::{DbConnection, StoreError, users, write_tx};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

/// The longest message, in characters.
pub const MAX_BODY: usize = 4000;
/// The most documents one message attaches.
pub const MAX_ATTACHMENTS: usize = 10;

/// A message as a reader sees it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MessageDto {
    /// Message id.
    pub id: String,
    /// `applicant` or `commission`.
    pub side: String,
    /// Who wrote it: the applicant's or a member's name, or the commission's role.
    pub author: String,
    /// The author's role code.
    pub author_role: String,
    /// Whether the reader wrote it.
    pub mine: bool,
    /// Text.
    pub body: String,
    /// Ids of the case's documents it attaches (`GET /api/v1/cases/{id}/documents/{doc}`).
    pub attachments: Vec<String>,
    /// When (UTC).
    pub created_at: DateTime<Utc>,
}

/// How the thread shows the commission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Show the applicant only the role of a commission member, not their name.
    pub hide_commission_names: bool,
}

fn role_label(role: &str) -> &'static str {
    match role {
        "secretary" => "Ответственный секретарь аккредитационной подкомиссии",
        "admin" => "Администратор",
        "specialist" => "Заявитель",
        "support" => "Служба поддержки",
        _ => "Аккредитационная подкомиссия",
    }
}

fn commission_role(actor: &Actor) -> &'static str {
    if actor.has(Role::Reviewer) {
        "reviewer"
    } else if actor.has(Role::Secretary) {
        "secretary"
    } else {
        "admin"
    }
}

/// The display names of the authors of `rows`, read at once.
fn author_names(
    conn: &mut DbConnection,
    rows: &[MessageRow],
) -> Result<std::collections::HashMap<String, String>, StoreError> {
    use crate::store::schema::users as u;
    use diesel::prelude::*;
    let ids: Vec<&str> = rows.iter().map(|r| r.author_id.as_str()).collect();
    Ok(u::table
        .filter(u::id.eq_any(ids))
        .select((u::id, u::display_name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

fn to_dto(
    row: MessageRow,
    names: &std::collections::HashMap<String, String>,
    reader: &Actor,
    reader_is_owner: bool,
    settings: Settings,
) -> Result<MessageDto, ServiceError> {
    let hide = reader_is_owner && row.side == "commission" && settings.hide_commission_names;
    let author = match names.get(&row.author_id) {
        Some(name) if !hide => name.clone(),
        _ => role_label(&row.author_role).to_owned(),
    };
    let attachments: Vec<String> = serde_json::from_str(&row.attachments)
        .map_err(|e| StoreError::Corrupt(format!("attachments of message {}: {e}", row.id)))?;
    Ok(MessageDto {
        mine: row.author_id == reader.user.as_str(),
        id: row.id,
        side: row.side,
        author,
        author_role: row.author_role,
        body: row.body,
        attachments,
        created_at: row.created_at.and_utc(),
    })
}

/// The thread of a case (anyone who may see the case).
pub fn list(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
    settings: Settings,
) -> Result<Vec<MessageDto>, ServiceError> {
    let v = load_visible(conn, catalog, actor, case_id)?;
    let owner = v.owner == actor.user;
    let rows = rows::of_case(conn, case_id)?;
    let names = author_names(conn, &rows)?;
    rows.into_iter()
        .map(|r| to_dto(r, &names, actor, owner, settings))
        .collect()
}

/// A message to post.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The case.
    pub case_id: String,
    /// Text.
    pub body: String,
    /// Document ids of the case to attach.
    pub attachments: Vec<String>,
}

/// Posts a message: the applicant to the commission, or a member of the case's
/// subcommission to the applicant; on a support request, its author to the desk or an agent
/// who sees it to the author (an agent's message is an answer: the first one is recorded). Once
/// the case was filed. An author's message in a state that declares `on_author_reply` runs that
/// transition in the same transaction (the request waiting for information goes back to work).
pub fn post(
    conn: &mut DbConnection,
    rules: super::Rules<'_>,
    actor: &Actor,
    m: &NewMessage,
    settings: Settings,
    now: DateTime<Utc>,
) -> Result<MessageDto, ServiceError> {
    let case_id = m.case_id.as_str();
    let text = m.body.trim();
    let len = text.chars().count();
    if len == 0 || len > MAX_BODY {
        return Err(ServiceError::invalid_field(
            "invalid_message",
            format!("Напишите сообщение (от 1 до {MAX_BODY} символов)"),
            "/body",
            "Обязательное поле",
        ));
    }
    if m.attachments.len() > MAX_ATTACHMENTS {
        return Err(ServiceError::invalid_field(
            "too_many_attachments",
            format!("К сообщению прикладывают не больше {MAX_ATTACHMENTS} документов"),
            "/attachments",
            "Слишком много документов",
        ));
    }
    let (catalog, notices) = (rules.catalog, rules.notices);
    let row = write_tx(conn, |conn| {
        let v = load_visible(conn, catalog, actor, case_id)?;
        let owner = v.owner == actor.user;
        if v.case.submitted_at.is_none() {
            return Err(ServiceError::refused(
                RefusalKind::Conflict,
                "messages_not_open",
                "Переписка с комиссией открывается после подачи заявления",
            ));
        }
        let (side, role) = if owner {
            ("applicant", "specialist")
        } else if actor.covers(v.case.specialty.as_deref()) {
            ("commission", commission_role(actor))
        } else if actor.has(Role::Support)
            && crate::engine::can_view(&v.workflow.definition, v.view(), actor)
        {
            crate::store::support::answered(conn, case_id, now.naive_utc())
                .map_err(StoreError::from)?;
            ("support", "support")
        } else {
            return Err(ServiceError::CaseHidden);
        };
        for (i, doc) in m.attachments.iter().enumerate() {
            let known = crate::store::documents::find(conn, case_id, doc)
                .map_err(StoreError::from)?
                .is_some();
            if !known {
                return Err(ServiceError::invalid_field(
                    "attachment_not_found",
                    "Прикладываются документы этого заявления: загрузите файл в заявление и укажите его",
                    &format!("/attachments/{i}"),
                    "Документ не найден",
                ));
            }
        }
        let row = MessageRow {
            id: crate::domain::ids::uuid_v7(now).to_string(),
            case_id: case_id.to_owned(),
            author_id: actor.user.to_string(),
            side: side.to_owned(),
            author_role: role.to_owned(),
            body: text.to_owned(),
            attachments: json!(m.attachments).to_string(),
            created_at: now.naive_utc(),
        };
        rows::insert(conn, &row)?;
        audit::record(
            conn,
            Entry {
                chain: format!("messages:{case_id}"),
                kind: "case.message",
                actor: Some(actor.user.to_string()),
                case: Some(case_id.to_owned()),
                at: now.naive_utc(),
                // The text is the parties' data: the log keeps its hash.
                payload: json!({
                    "message_id": row.id,
                    "side": side,
                    "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())),
                    "attachments": m.attachments,
                }),
            },
        )?;
        // The other side hears of it: the applicant, or the assignee (the subcommission's
        // secretaries while nobody is assigned).
        let recipients: Vec<String> = if owner {
            match &v.case.assignee_id {
                Some(a) => vec![a.clone()],
                None => secretaries_for(conn, v.case.specialty.as_deref())?,
            }
        } else {
            vec![v.case.owner_id.clone()]
        };
        if !recipients.is_empty() {
            let def = &v.workflow.definition;
            let form: serde_json::Value = serde_json::from_str(&v.case.form_data)
                .map_err(|e| StoreError::Corrupt(format!("form of case {case_id}: {e}")))?;
            let from = if owner {
                v.case
                    .applicant_name
                    .clone()
                    .unwrap_or_else(|| role_label("specialist").to_owned())
            } else if settings.hide_commission_names {
                role_label(role).to_owned()
            } else {
                users::find(conn, &actor.user)?
                    .map_or_else(|| role_label(role).to_owned(), |u| u.display_name)
            };
            let context = Context {
                from: Some(from),
                ..case_context(
                    conn,
                    case_id,
                    v.case.number.clone(),
                    def,
                    &v.case.state,
                    None,
                )?
            };
            let audience = Audience {
                recipients: &recipients,
                owner: Some((&v.case.owner_id, &form)),
                case_id: Some(case_id),
            };
            let notes = outbox_rows(conn, notices, "message", &context, &audience, now)?;
            crate::store::notifications::insert(conn, &notes)?;
        }
        let reply = v
            .workflow
            .definition
            .state(&v.case.state)
            .and_then(|s| s.on_author_reply.as_deref());
        if owner && let Some(name) = reply {
            super::transition::run_within(conn, &v, rules, actor, name, now)?;
        }
        Ok(row)
    })?;
    let names = author_names(conn, std::slice::from_ref(&row))?;
    to_dto(row, &names, actor, false, settings)
}

/// Every secretary on a subcommission of `specialty`.
fn secretaries_for(
    conn: &mut DbConnection,
    specialty: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    match specialty {
        Some(s) => Ok(crate::store::subcommissions::members_with_role(
            conn,
            s,
            Role::Secretary.as_str(),
        )?),
        None => Ok(Vec::new()),
    }
}
