//! Outbox rows. Written through [`super::commit::CaseCommit`]; read here for the cabinet.

use super::DbConnection;
use super::schema::notifications as n;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A notification to write.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = n)]
pub struct NewNotification {
    pub id: String,
    pub recipient_id: String,
    pub case_id: Option<String>,
    pub event: String,
    pub channel: String,
    pub subject: String,
    pub body: String,
    /// `delivered` for `inapp` (the commit delivers it), else `pending`.
    pub status: String,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

/// A stored notification as the cabinet shows it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = n)]
pub struct Notice {
    pub id: String,
    pub case_id: Option<String>,
    pub event: String,
    pub subject: String,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

/// A person's in-cabinet notifications, newest first, `limit` of them (only unread ones if
/// asked), and how many are unread in all.
pub fn inbox(
    conn: &mut DbConnection,
    recipient: &str,
    unread_only: bool,
    limit: i64,
) -> QueryResult<(Vec<Notice>, i64)> {
    let mine = || {
        n::table
            .filter(n::recipient_id.eq(recipient.to_owned()))
            .filter(n::channel.eq("inapp"))
            .into_boxed()
    };
    let mut q = mine();
    if unread_only {
        q = q.filter(n::read_at.is_null());
    }
    let items = q
        .order((n::created_at.desc(), n::id.desc()))
        .limit(limit)
        .select(Notice::as_select())
        .load(conn)?;
    let unread = mine()
        .filter(n::read_at.is_null())
        .count()
        .get_result(conn)?;
    Ok((items, unread))
}

/// Marks one of the person's in-cabinet notifications read (once: the first time stays);
/// `false` if they have no such notification.
pub fn mark_read(
    conn: &mut DbConnection,
    recipient: &str,
    id: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let found = n::table
        .find(id)
        .filter(n::recipient_id.eq(recipient))
        .filter(n::channel.eq("inapp"))
        .count()
        .get_result::<i64>(conn)?;
    if found == 0 {
        return Ok(false);
    }
    diesel::update(n::table.find(id).filter(n::read_at.is_null()))
        .set(n::read_at.eq(at))
        .execute(conn)?;
    Ok(true)
}

/// One outbox row as the delivery log shows it.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = n)]
pub struct Delivery {
    pub id: String,
    pub recipient_id: String,
    pub case_id: Option<String>,
    pub event: String,
    pub channel: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

/// Filters of the delivery log.
#[derive(Debug, Default, Clone)]
pub struct DeliveryFilter {
    pub case_id: Option<String>,
    pub recipient_id: Option<String>,
    pub channel: Option<String>,
    pub status: Option<String>,
    pub limit: i64,
}

/// The delivery log, newest first.
pub fn deliveries(conn: &mut DbConnection, f: &DeliveryFilter) -> QueryResult<Vec<Delivery>> {
    let mut q = n::table.select(Delivery::as_select()).into_boxed();
    if let Some(v) = &f.case_id {
        q = q.filter(n::case_id.eq(v.clone()));
    }
    if let Some(v) = &f.recipient_id {
        q = q.filter(n::recipient_id.eq(v.clone()));
    }
    if let Some(v) = &f.channel {
        q = q.filter(n::channel.eq(v.clone()));
    }
    if let Some(v) = &f.status {
        q = q.filter(n::status.eq(v.clone()));
    }
    q.order((n::created_at.desc(), n::id.desc()))
        .limit(f.limit)
        .load(conn)
}
