//! A PostgreSQL database for one test: created on `TEST_POSTGRES_URL`'s
//! server, always dropped (`WITH (FORCE)`) when the guard is dropped, also
//! when the test panics.
//!
//! Include it with `#[path = "common/pg.rs"] mod pg;` (or `../common/pg.rs`).

/// The guard of one test database.
pub struct PgDb {
    /// URL of the new database.
    pub url: String,
    admin: String,
    name: String,
}

impl PgDb {
    /// `None` (with a note on stderr) when `TEST_POSTGRES_URL` is not set.
    pub async fn create(prefix: &str) -> Option<PgDb> {
        let Some(admin) = std::env::var("TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!("TEST_POSTGRES_URL is not set: skipping the PostgreSQL variant");
            return None;
        };
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        exec(&admin, &format!("CREATE DATABASE {name}")).await;
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .expect("TEST_POSTGRES_URL names a database");
        Some(PgDb {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }
}

async fn exec(admin_url: &str, sql: &str) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to TEST_POSTGRES_URL");
    sqlx::query(sql).execute(&mut c).await.expect(sql);
    let _ = c.close().await;
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop may run inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(exec(
                    &admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ));
            }
        })
        .join();
    }
}
