//! Accreditation subcommissions: a code, a name, the specialties it reviews and its members.

use super::DbConnection;
use super::schema::{subcommission_members as m, subcommission_specialties as sp, subcommissions};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use std::collections::BTreeSet;

/// A subcommission as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Subcommission {
    /// Stable code.
    pub code: String,
    /// Name (Russian).
    pub name: String,
    /// Specialty codes it reviews.
    pub specialties: Vec<String>,
    /// User ids of its members.
    pub members: Vec<String>,
}

/// The specialties of every subcommission `user_id` sits on.
pub fn specialties_of(conn: &mut DbConnection, user_id: &str) -> QueryResult<BTreeSet<String>> {
    let rows: Vec<String> = sp::table
        .inner_join(m::table.on(m::subcommission.eq(sp::subcommission)))
        .filter(m::user_id.eq(user_id))
        .select(sp::specialty)
        .distinct()
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Creates a subcommission or renames it and replaces its specialties (members stay).
pub fn define(
    conn: &mut DbConnection,
    code: &str,
    name: &str,
    specialties: &BTreeSet<String>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let created = match subcommissions::table
        .find(code)
        .select(subcommissions::code)
        .first::<String>(conn)
        .optional()?
    {
        Some(_) => {
            diesel::update(subcommissions::table.find(code))
                .set(subcommissions::name.eq(name))
                .execute(conn)?;
            false
        }
        None => {
            diesel::insert_into(subcommissions::table)
                .values((
                    subcommissions::code.eq(code),
                    subcommissions::name.eq(name),
                    subcommissions::created_at.eq(now),
                ))
                .execute(conn)?;
            true
        }
    };
    diesel::delete(sp::table.filter(sp::subcommission.eq(code))).execute(conn)?;
    for s in specialties {
        diesel::insert_into(sp::table)
            .values((sp::subcommission.eq(code), sp::specialty.eq(s)))
            .execute(conn)?;
    }
    Ok(created)
}

/// Whether a subcommission exists.
pub fn exists(conn: &mut DbConnection, code: &str) -> QueryResult<bool> {
    Ok(subcommissions::table
        .find(code)
        .select(subcommissions::code)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// Adds a member; `false` if they already were one.
pub fn add_member(
    conn: &mut DbConnection,
    code: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let present = m::table
        .find((code, user_id))
        .select(m::user_id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if present {
        return Ok(false);
    }
    diesel::insert_into(m::table)
        .values((
            m::subcommission.eq(code),
            m::user_id.eq(user_id),
            m::added_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Removes a member; `false` if they were not one.
pub fn remove_member(conn: &mut DbConnection, code: &str, user_id: &str) -> QueryResult<bool> {
    Ok(diesel::delete(m::table.find((code, user_id))).execute(conn)? == 1)
}

/// Every subcommission with its specialties and members, by code.
pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<Subcommission>> {
    let heads: Vec<(String, String)> = subcommissions::table
        .select((subcommissions::code, subcommissions::name))
        .order(subcommissions::code)
        .load(conn)?;
    let specs: Vec<(String, String)> = sp::table
        .select((sp::subcommission, sp::specialty))
        .order((sp::subcommission, sp::specialty))
        .load(conn)?;
    let members: Vec<(String, String)> = m::table
        .select((m::subcommission, m::user_id))
        .order((m::subcommission, m::user_id))
        .load(conn)?;
    Ok(heads
        .into_iter()
        .map(|(code, name)| Subcommission {
            specialties: specs
                .iter()
                .filter(|(c, _)| *c == code)
                .map(|(_, s)| s.clone())
                .collect(),
            members: members
                .iter()
                .filter(|(c, _)| *c == code)
                .map(|(_, u)| u.clone())
                .collect(),
            code,
            name,
        })
        .collect())
}

/// The name of a subcommission reviewing `specialty` (the first by code), if any.
pub fn name_for_specialty(conn: &mut DbConnection, specialty: &str) -> QueryResult<Option<String>> {
    subcommissions::table
        .inner_join(sp::table)
        .filter(sp::specialty.eq(specialty))
        .select(subcommissions::name)
        .order(subcommissions::code)
        .first(conn)
        .optional()
}

/// Whether `user_id` sits on a subcommission reviewing `specialty`.
pub fn member_for(conn: &mut DbConnection, user_id: &str, specialty: &str) -> QueryResult<bool> {
    let n: i64 = sp::table
        .inner_join(m::table.on(m::subcommission.eq(sp::subcommission)))
        .filter(m::user_id.eq(user_id))
        .filter(sp::specialty.eq(specialty))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The members holding `role` of every subcommission reviewing `specialty`, by id.
pub fn members_with_role(
    conn: &mut DbConnection,
    specialty: &str,
    role: &str,
) -> QueryResult<Vec<String>> {
    use super::schema::user_roles as r;
    m::table
        .inner_join(sp::table.on(sp::subcommission.eq(m::subcommission)))
        .inner_join(r::table.on(r::user_id.eq(m::user_id)))
        .filter(sp::specialty.eq(specialty))
        .filter(r::role.eq(role))
        .select(m::user_id)
        .distinct()
        .order(m::user_id)
        .load(conn)
}
