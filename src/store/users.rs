//! Users and their roles.

use super::DbConnection;
use super::schema::{user_roles, users};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A stored user.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub subject: String,
    pub display_name: String,
    pub created_at: NaiveDateTime,
}

/// A user to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub subject: &'a str,
    pub display_name: &'a str,
    pub created_at: NaiveDateTime,
}

/// Finds a user by the identity provider's subject.
pub fn find_by_subject(conn: &mut DbConnection, subject: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::subject.eq(subject))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Finds a user by id.
pub fn find(conn: &mut DbConnection, id: &UserId) -> QueryResult<Option<User>> {
    users::table
        .find(id.as_str())
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Returns the user with that subject, creating it if needed.
pub fn ensure(
    conn: &mut DbConnection,
    subject: &str,
    display_name: &str,
    now: NaiveDateTime,
) -> QueryResult<User> {
    if let Some(u) = find_by_subject(conn, subject)? {
        return Ok(u);
    }
    let id = UserId::generate(now.and_utc());
    diesel::insert_into(users::table)
        .values(&NewUser {
            id: id.as_str(),
            subject,
            display_name,
            created_at: now,
        })
        .execute(conn)?;
    Ok(User {
        id: id.to_string(),
        subject: subject.to_owned(),
        display_name: display_name.to_owned(),
        created_at: now,
    })
}

/// Grants a role; returns false if the user already had it.
pub fn grant_role(
    conn: &mut DbConnection,
    user: &UserId,
    role: Role,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let exists = user_roles::table
        .filter(user_roles::user_id.eq(user.as_str()))
        .filter(user_roles::role.eq(role.as_str()))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if exists {
        return Ok(false);
    }
    diesel::insert_into(user_roles::table)
        .values((
            user_roles::user_id.eq(user.as_str()),
            user_roles::role.eq(role.as_str()),
            user_roles::granted_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Ids of every user holding `role`, in id order.
pub fn with_role(conn: &mut DbConnection, role: &str) -> QueryResult<Vec<String>> {
    use super::schema::user_roles;
    user_roles::table
        .filter(user_roles::role.eq(role))
        .select(user_roles::user_id)
        .order(user_roles::user_id)
        .load(conn)
}

/// The roles `user` holds (stored codes that are no role are skipped).
pub fn roles_of(
    conn: &mut DbConnection,
    user: &UserId,
) -> QueryResult<std::collections::BTreeSet<Role>> {
    let codes: Vec<String> = user_roles::table
        .filter(user_roles::user_id.eq(user.as_str()))
        .select(user_roles::role)
        .load(conn)?;
    Ok(codes.iter().filter_map(|c| c.parse().ok()).collect())
}
