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
    /// When a dispatcher may first take it (`created_at` for a pending row).
    pub next_attempt_at: Option<NaiveDateTime>,
    /// Where it goes: the e-mail address or phone number, captured at commit.
    pub address: Option<String>,
    /// The HTML part of an e-mail.
    pub html: Option<String>,
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

/// A pending row a dispatcher has claimed.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = n)]
pub struct Outgoing {
    pub id: String,
    pub recipient_id: String,
    pub case_id: Option<String>,
    pub event: String,
    pub channel: String,
    pub subject: String,
    pub body: String,
    pub html: Option<String>,
    pub address: Option<String>,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
}

/// Leases up to `limit` pending rows of `channel` whose attempt is due at `now` and whose
/// lease is free or has run out, to `owner` until `until`, oldest first. On PostgreSQL one
/// statement choosing them with `FOR UPDATE SKIP LOCKED`, so concurrent dispatchers take
/// disjoint rows without waiting on each other; SQLite has one writer at a time.
pub fn claim(
    conn: &mut DbConnection,
    channel: &str,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Outgoing>, super::StoreError> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    if let DbConnection::Pg(pg) = conn {
        let mut rows = diesel::sql_query(
            "UPDATE notifications SET lease_owner = $1, lease_until = $2
             WHERE id IN (SELECT id FROM notifications
                          WHERE status = 'pending' AND channel = $3 AND next_attempt_at <= $4
                            AND (lease_until IS NULL OR lease_until < $4)
                          ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED)
             RETURNING id, recipient_id, case_id, event, channel, subject, body, html, address,
                       attempts, created_at",
        )
        .bind::<Text, _>(owner)
        .bind::<Timestamp, _>(until)
        .bind::<Text, _>(channel)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<Outgoing>(pg)?;
        rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        return Ok(rows);
    }
    // Read and lease under SQLite's write lock (`BEGIN IMMEDIATE`), or two dispatchers would
    // read the same rows before either leased them.
    super::write_tx(conn, |conn| {
        let rows: Vec<Outgoing> = n::table
            .filter(n::status.eq("pending"))
            .filter(n::channel.eq(channel))
            .filter(n::next_attempt_at.le(now))
            .filter(n::lease_until.is_null().or(n::lease_until.lt(now)))
            .order(n::next_attempt_at)
            .limit(limit)
            .select(Outgoing::as_select())
            .load(conn)?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        diesel::update(n::table.filter(n::id.eq_any(&ids)))
            .set((n::lease_owner.eq(owner), n::lease_until.eq(until)))
            .execute(conn)?;
        Ok(rows)
    })
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the receiver.
    Delivered,
    /// Try again at the given moment (the error kept).
    Retry(NaiveDateTime, String),
    /// Given up: a permanent refusal or the last attempt (the reason kept).
    Failed(String),
}

/// Records the outcomes of `owner`'s claimed rows at `now`; a row whose lease `owner` no
/// longer holds (it ran out and another dispatcher took the row) is left to that one. Delivered
/// rows are marked in one statement. Returns how many rows were recorded.
pub fn record(
    conn: &mut DbConnection,
    owner: &str,
    now: NaiveDateTime,
    outcomes: &[(&Outgoing, Outcome)],
) -> QueryResult<usize> {
    let delivered: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Delivered)
        .map(|(r, _)| r.id.as_str())
        .collect();
    let mut done = 0;
    if !delivered.is_empty() {
        done += diesel::update(
            n::table
                .filter(n::status.eq("pending"))
                .filter(n::lease_owner.eq(owner))
                .filter(n::id.eq_any(&delivered)),
        )
        .set((
            n::status.eq("delivered"),
            n::delivered_at.eq(now),
            n::lease_owner.eq(None::<String>),
            n::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    }
    for (row, outcome) in outcomes {
        let (status, next, error) = match outcome {
            Outcome::Delivered => continue,
            Outcome::Retry(at, e) => ("pending", Some(*at), e),
            Outcome::Failed(e) => ("failed", None, e),
        };
        done += diesel::update(
            n::table
                .filter(n::status.eq("pending"))
                .filter(n::lease_owner.eq(owner))
                .filter(n::id.eq(&row.id)),
        )
        .set((
            n::status.eq(status),
            n::attempts.eq(row.attempts + 1),
            n::next_attempt_at.eq(next),
            n::last_error.eq(error),
            n::lease_owner.eq(None::<String>),
            n::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    }
    Ok(done)
}

/// An admin's retry of a failed row: pending again, due at `now`, attempts counted afresh
/// (the last error stays until the next attempt). `None` if there is no such row, `Some(false)`
/// if it has not failed.
pub fn retry_failed(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<bool>> {
    let status: Option<String> = n::table.find(id).select(n::status).first(conn).optional()?;
    match status.as_deref() {
        None => Ok(None),
        Some("failed") => {
            diesel::update(n::table.find(id).filter(n::status.eq("failed")))
                .set((
                    n::status.eq("pending"),
                    n::attempts.eq(0),
                    n::next_attempt_at.eq(now),
                ))
                .execute(conn)?;
            Ok(Some(true))
        }
        Some(_) => Ok(Some(false)),
    }
}

/// How many rows are pending and how many failed, per channel.
pub fn backlog(conn: &mut DbConnection) -> QueryResult<Vec<(String, String, i64)>> {
    use diesel::dsl::count_star;
    n::table
        .filter(n::status.ne("delivered"))
        .group_by((n::channel, n::status))
        .select((n::channel, n::status, count_star()))
        .order((n::channel, n::status))
        .load(conn)
}

/// When the oldest pending row of each channel was written.
pub fn oldest_pending(conn: &mut DbConnection) -> QueryResult<Vec<(String, NaiveDateTime)>> {
    use diesel::dsl::min;
    let rows: Vec<(String, Option<NaiveDateTime>)> = n::table
        .filter(n::status.eq("pending"))
        .group_by(n::channel)
        .select((n::channel, min(n::created_at)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(c, at)| at.map(|at| (c, at)))
        .collect())
}

/// A person's choice for one channel.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::notification_preferences)]
pub struct Preference {
    pub user_id: String,
    pub channel: String,
    pub enabled: bool,
    pub address: Option<String>,
    pub updated_at: NaiveDateTime,
}

/// The stored choices of `users`.
pub fn preferences(conn: &mut DbConnection, users: &[String]) -> QueryResult<Vec<Preference>> {
    use super::schema::notification_preferences as p;
    p::table
        .filter(p::user_id.eq_any(users))
        .select(Preference::as_select())
        .load(conn)
}

/// Stores a person's choices (each channel replaced as a whole).
pub fn set_preferences(conn: &mut DbConnection, rows: &[Preference]) -> QueryResult<()> {
    use super::schema::notification_preferences as p;
    for row in rows {
        let existing = p::table
            .find((&row.user_id, &row.channel))
            .count()
            .get_result::<i64>(conn)?;
        if existing == 0 {
            diesel::insert_into(p::table).values(row).execute(conn)?;
        } else {
            diesel::update(p::table.find((&row.user_id, &row.channel)))
                .set((
                    p::enabled.eq(row.enabled),
                    p::address.eq(&row.address),
                    p::updated_at.eq(row.updated_at),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Plain inserts of outbox rows (events with no case commit: reminders).
pub fn insert(conn: &mut DbConnection, rows: &[NewNotification]) -> QueryResult<()> {
    for row in rows {
        diesel::insert_into(n::table).values(row).execute(conn)?;
    }
    Ok(())
}
