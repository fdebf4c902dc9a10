//! Migrations: up/down/up on the test backend, and the same logical schema on both backends.

use crate::support::TestDb;
use accredo::store::{DbConnection, DbTarget, migrate};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use std::collections::BTreeMap;

#[derive(QueryableByName, Debug)]
struct Col {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(QueryableByName, Debug)]
struct Idx {
    #[diesel(sql_type = Text)]
    name: String,
}

/// table -> column -> (logical type, not null, part of primary key); plus index names.
type Logical = (
    BTreeMap<String, BTreeMap<String, (String, bool, bool)>>,
    Vec<String>,
);

fn logical_type(raw: &str) -> String {
    let t = raw.to_ascii_lowercase();
    if t.contains("char") || t == "text" {
        "text".into()
    } else if t.contains("int") {
        "integer".into()
    } else if t.contains("timestamp") {
        "timestamp".into()
    } else if t == "bytea" || t == "blob" {
        "binary".into()
    } else {
        t
    }
}

fn logical_schema(conn: &mut DbConnection) -> Logical {
    let (cols, idx): (Vec<Col>, Vec<Idx>) = match conn {
        DbConnection::Pg(c) => (
            diesel::sql_query(
                "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, c.data_type::text AS data_type,
                        (c.is_nullable = 'NO')::int AS not_null,
                        (EXISTS (SELECT 1 FROM information_schema.key_column_usage k
                                 JOIN information_schema.table_constraints tc ON tc.constraint_name = k.constraint_name AND tc.table_name = k.table_name
                                 WHERE tc.constraint_type = 'PRIMARY KEY' AND k.table_name = c.table_name AND k.column_name = c.column_name))::int AS pk
                 FROM information_schema.columns c WHERE c.table_schema = 'public' AND c.table_name NOT LIKE '__diesel%'",
            )
            .load(c)
            .expect("pg columns"),
            diesel::sql_query("SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey' AND tablename NOT LIKE '__diesel%'")
                .load(c)
                .expect("pg indexes"),
        ),
        DbConnection::Sqlite(c) => (
            diesel::sql_query(
                "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, (p.\"notnull\" OR p.pk > 0) AS not_null, (p.pk > 0) AS pk
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE '__diesel%' AND m.name NOT LIKE 'sqlite_%'",
            )
            .load(c)
            .expect("sqlite columns"),
            diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'")
                .load(c)
                .expect("sqlite indexes"),
        ),
    };
    let mut tables: BTreeMap<String, BTreeMap<String, (String, bool, bool)>> = BTreeMap::new();
    for c in cols {
        tables.entry(c.table_name).or_default().insert(
            c.column_name,
            (logical_type(&c.data_type), c.not_null != 0, c.pk != 0),
        );
    }
    let mut names: Vec<String> = idx.into_iter().map(|i| i.name).collect();
    names.sort();
    (tables, names)
}

/// Migrations shipped in each of migrations/postgres and migrations/sqlite.
const MIGRATIONS: usize = 19;
/// Tables they create.
const TABLES: usize = 37;

fn tables(conn: &mut DbConnection) -> usize {
    logical_schema(conn).0.len()
}

#[test]
fn migrations_go_up_down_and_up_again() {
    let db = TestDb::new();
    let mut conn = db.conn();
    assert_eq!(
        migrate::run_pending(&mut conn).expect("up").len(),
        MIGRATIONS
    );
    let schema = logical_schema(&mut conn);
    assert_eq!(schema.0.len(), TABLES);
    assert!(
        migrate::run_pending(&mut conn).expect("again").is_empty(),
        "idempotent"
    );
    assert_eq!(
        migrate::revert_all(&mut conn).expect("down").len(),
        MIGRATIONS
    );
    assert_eq!(tables(&mut conn), 0);
    migrate::run_pending(&mut conn).expect("up again");
    assert_eq!(logical_schema(&mut conn), schema);
}

#[test]
fn both_backends_produce_the_same_logical_schema() {
    let Ok(admin) = std::env::var("ACCREDO_TEST_DATABASE_URL") else {
        eprintln!("skipped: set ACCREDO_TEST_DATABASE_URL to compare with PostgreSQL (CI does)");
        return;
    };
    assert!(!admin.is_empty());
    let pg = TestDb::new();
    let mut pg_conn = pg.conn();
    migrate::run_pending(&mut pg_conn).expect("pg up");
    let dir = tempfile::tempdir().expect("dir");
    let mut lite = DbTarget::Sqlite(dir.path().join("s.db"))
        .connect()
        .expect("sqlite");
    migrate::run_pending(&mut lite).expect("sqlite up");
    let (pg_tables, pg_idx) = logical_schema(&mut pg_conn);
    let (lite_tables, lite_idx) = logical_schema(&mut lite);
    assert_eq!(pg_tables, lite_tables);
    assert_eq!(pg_idx, lite_idx);
    assert_eq!(pg_tables.len(), TABLES);
}
