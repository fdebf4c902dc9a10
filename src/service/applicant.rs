//! The applicant as their login describes them (the profile kept from the identity provider),
//! for the guards and the readiness report.

use crate::engine::applicant::Identity;
use crate::store::DbConnection;
use crate::store::profiles;
use diesel::QueryResult;

/// The identity of user `owner_id`; none before their first login through the provider.
pub fn identity_of(conn: &mut DbConnection, owner_id: &str) -> QueryResult<Option<Identity>> {
    Ok(profiles::find(conn, owner_id)?.map(|p| Identity {
        snils: p.snils,
        last_name: p.last_name,
        first_name: p.first_name,
        middle_name: p.middle_name,
        birth_date: p.birth_date,
        inn: p.inn,
    }))
}
