//! Renewal reminders: for every person in the cabinet whose register record (matched by
//! SNILS) holds an accreditation with a valid-until date, a `reminder` notification at each
//! configured offset before that date (default 30 days), once per person, accreditation and
//! offset however many instances run it and however often (`reminders` has that key; the
//! insert that claims it is in the same transaction as the notification). A run that comes
//! late still sends a reminder whose moment has passed, up to the valid-until date itself.
//!
//! With `open_drafts`, the periodic cycle of the seeds: a draft periodic accreditation is
//! opened for the person in the same transaction (its form prefilled from the register, as
//! every draft is), unless they already have an application of that workflow under way, and
//! the reminder names it.

use crate::domain::calendar::moscow;
use crate::domain::role::Role;
use crate::engine::Actor;
use crate::engine::catalog::Catalog;
use crate::notify::templates::{Context, Templates};
use crate::registry::record::Document;
use crate::service::ServiceError;
use crate::store::schema::{cases, person_profiles, registry_persons, reminders};
use crate::store::{DbConnection, StoreError, write_tx};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;

/// What the reminders do.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Days before the valid-until date at which a reminder goes out.
    pub offsets: Vec<i64>,
    /// Open a draft periodic accreditation with the reminder.
    pub open_drafts: bool,
    /// The workflow of that draft.
    pub workflow: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            offsets: vec![30],
            open_drafts: false,
            workflow: "periodic_accreditation".into(),
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Reminders sent by this run.
    pub sent: usize,
    /// Drafts opened with them.
    pub drafts: usize,
    /// Reminders due that an earlier run (or another instance) had already sent.
    pub already_sent: usize,
    /// Reminders that could not be sent (logged; the next run tries again).
    pub failed: usize,
}

/// One reminder due.
#[derive(Debug, Clone)]
struct Due {
    user_id: String,
    key: String,
    offset: i64,
    /// Larger offsets whose moment has also passed (a first or late run): recorded as sent
    /// with this one, so the person gets one reminder, not several on one day.
    passed: Vec<i64>,
    valid_until: NaiveDate,
    specialty: Option<String>,
}

/// The reminders due at `today` (Moscow): each accreditation valid until a day at most
/// `offset` days ahead and not yet past.
fn due(conn: &mut DbConnection, offsets: &[i64], today: NaiveDate) -> Result<Vec<Due>, StoreError> {
    let people: Vec<(String, String, String)> = person_profiles::table
        .inner_join(
            registry_persons::table.on(registry_persons::snils
                .nullable()
                .eq(person_profiles::snils)
                .and(registry_persons::removed_at.is_null())),
        )
        .select((
            person_profiles::user_id,
            registry_persons::register_id,
            registry_persons::accreditations,
        ))
        .order(person_profiles::user_id)
        .load(conn)?;
    let mut out = Vec::new();
    for (user_id, register_id, accreditations) in people {
        let docs: Vec<Document> = match serde_json::from_str(&accreditations) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(register_id, error = %e, "unreadable accreditations in the register copy");
                continue;
            }
        };
        for doc in docs {
            let Some(until) = doc.valid_until else {
                continue;
            };
            let left = (until - today).num_days();
            let mut reached: Vec<i64> = offsets
                .iter()
                .copied()
                .filter(|o| (0..=*o).contains(&left))
                .collect();
            reached.sort_unstable();
            reached.dedup();
            if let Some((&offset, passed)) = reached.split_first() {
                out.push(Due {
                    user_id: user_id.clone(),
                    key: format!(
                        "{register_id}/{}/{}/{until}",
                        doc.kind,
                        doc.specialty.as_deref().unwrap_or("")
                    ),
                    offset,
                    passed: passed.to_vec(),
                    valid_until: until,
                    specialty: doc.specialty.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// Sends the reminders due at `now`.
pub fn run(
    conn: &mut DbConnection,
    catalog: &Catalog,
    templates: &Templates,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Report, ServiceError> {
    let today = moscow(now).date();
    let mut report = Report::default();
    for d in due(conn, &settings.offsets, today)? {
        match write_tx(conn, |conn| {
            send(conn, catalog, templates, settings, &d, now)
        }) {
            Ok(None) => report.already_sent += 1,
            Err(ServiceError::Store(e)) if e.is_conflict() => report.already_sent += 1,
            Ok(Some(draft)) => {
                report.sent += 1;
                report.drafts += usize::from(draft);
            }
            // One person's problem does not hold up everyone after them; the next run tries
            // again.
            Err(e) => {
                tracing::error!(user = %d.user_id, accreditation = %d.key, error = %e, "renewal reminder failed");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// Claims and sends one reminder; `None` if it had been sent, else whether a draft was opened.
fn send(
    conn: &mut DbConnection,
    catalog: &Catalog,
    templates: &Templates,
    settings: &Settings,
    d: &Due,
    now: DateTime<Utc>,
) -> Result<Option<bool>, ServiceError> {
    let key = (&d.user_id, &d.key, d.offset as i32);
    let sent: i64 = reminders::table
        .find(key)
        .count()
        .get_result(conn)
        .map_err(StoreError::from)?;
    if sent > 0 {
        return Ok(None);
    }
    // Another instance inserting the same key at once makes this insert fail on the primary
    // key and the transaction roll back: that run counts it as sent before.
    for offset in std::iter::once(d.offset).chain(d.passed.iter().copied()) {
        let key = (&d.user_id, &d.key, offset as i32);
        if offset != d.offset
            && reminders::table
                .find(key)
                .count()
                .get_result::<i64>(conn)
                .map_err(StoreError::from)?
                > 0
        {
            continue;
        }
        diesel::insert_into(reminders::table)
            .values((
                reminders::user_id.eq(&d.user_id),
                reminders::accreditation.eq(&d.key),
                reminders::offset_days.eq(offset as i32),
                reminders::valid_until.eq(d.valid_until),
                reminders::sent_at.eq(now.naive_utc()),
            ))
            .execute(conn)
            .map_err(StoreError::from)?;
    }
    // The contacts of their latest application, read before a draft (which the register
    // prefills without them) is opened.
    let form = crate::notify::routes::latest_form(conn, &d.user_id).map_err(StoreError::from)?;
    let mut draft = None;
    if settings.open_drafts {
        let under_way: i64 = cases::table
            .filter(cases::owner_id.eq(&d.user_id))
            .filter(cases::workflow_id.eq(&settings.workflow))
            .filter(cases::submitted_at.is_null())
            .count()
            .get_result(conn)
            .map_err(StoreError::from)?;
        if under_way == 0 {
            let actor = Actor::new(
                crate::domain::ids::UserId::from_stored(d.user_id.clone()),
                [Role::Specialist].into_iter().collect(),
            );
            let case = crate::service::cases::insert_draft(
                conn,
                catalog,
                &actor,
                &settings.workflow,
                now,
            )?;
            diesel::update(reminders::table.find((&d.user_id, &d.key, d.offset as i32)))
                .set(reminders::case_id.eq(&case.id))
                .execute(conn)
                .map_err(StoreError::from)?;
            draft = Some(case.id);
        }
    }
    let workflow = catalog
        .current(&settings.workflow)
        .map(|w| w.definition.title.clone())
        .unwrap_or_default();
    let context = Context {
        specialty: Some(d.specialty.clone().unwrap_or_else(|| "—".into())),
        valid_until: Some(d.valid_until.format("%d.%m.%Y").to_string()),
        days_left: Some((d.valid_until - moscow(now).date()).num_days()),
        number: draft.clone().unwrap_or_default(),
        workflow,
        draft: draft.clone(),
        ..Context::default()
    };
    let audience = super::outbox::Audience {
        recipients: std::slice::from_ref(&d.user_id),
        owner: Some((&d.user_id, &form)),
        case_id: draft.as_deref(),
    };
    let rows = super::outbox::outbox_rows(conn, templates, "reminder", &context, &audience, now)?;
    crate::store::notifications::insert(conn, &rows).map_err(StoreError::from)?;
    Ok(Some(draft.is_some()))
}
