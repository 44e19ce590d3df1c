#!/usr/bin/env python3
"""Writes a seed-like service workspace for `buildkit tune`'s benchmark: three members on
axum, tokio, sqlx, reqwest, opentelemetry-otlp, clap and serde (about 270 crates to build),
whose binary crate is big enough that the edit loop is a real compile, as in a service.

Usage: bench/seed_workspace.py DIR [--modules N]
Dependencies come from crates.io (`cargo generate-lockfile` resolves them when the script
runs); the project's own code is generated: N modules of records, queries and handlers.
"""

import argparse
import subprocess
from pathlib import Path

WORKSPACE = """[workspace]
resolver = "2"
members = ["crates/core", "crates/api", "crates/cli"]

[workspace.package]
version = "0.1.0"
edition = "2021"

[workspace.dependencies]
axum = "0.8"
tokio = { version = "1", features = ["full"] }
sqlx = { version = "0.8", default-features = false, features = ["runtime-tokio", "tls-rustls", "postgres", "macros", "uuid", "chrono", "json", "migrate"] }
reqwest = { version = "0.12", default-features = false, features = ["rustls-tls", "json"] }
opentelemetry = "0.30"
opentelemetry_sdk = { version = "0.30", features = ["rt-tokio"] }
opentelemetry-otlp = { version = "0.30", features = ["grpc-tonic"] }
tracing = "0.1"
tracing-subscriber = { version = "0.3", features = ["env-filter", "json"] }
tracing-opentelemetry = "0.31"
clap = { version = "4", features = ["derive", "env"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
uuid = { version = "1", features = ["v4", "serde"] }
chrono = { version = "0.4", features = ["serde"] }
anyhow = "1"
thiserror = "2"
tower-http = { version = "0.6", features = ["trace", "cors", "compression-gzip"] }
"""

CORE_TOML = """[package]
name = "svc-core"
version.workspace = true
edition.workspace = true

[dependencies]
serde.workspace = true
serde_json.workspace = true
uuid.workspace = true
chrono.workspace = true
thiserror.workspace = true
sqlx.workspace = true
"""

API_TOML = """[package]
name = "svc-api"
version.workspace = true
edition.workspace = true

[dependencies]
svc-core = { path = "../core" }
axum.workspace = true
tokio.workspace = true
sqlx.workspace = true
reqwest.workspace = true
opentelemetry.workspace = true
opentelemetry_sdk.workspace = true
opentelemetry-otlp.workspace = true
tracing.workspace = true
tracing-subscriber.workspace = true
tracing-opentelemetry.workspace = true
clap.workspace = true
serde.workspace = true
serde_json.workspace = true
uuid.workspace = true
anyhow.workspace = true
tower-http.workspace = true
"""

CLI_TOML = """[package]
name = "svc-cli"
version.workspace = true
edition.workspace = true

[dependencies]
svc-core = { path = "../core" }
clap.workspace = true
reqwest.workspace = true
tokio.workspace = true
serde_json.workspace = true
anyhow.workspace = true
"""

CORE_LIB = """use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Order {
    pub id: uuid::Uuid,
    pub customer: String,
    pub total_cents: i64,
    pub created: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("not found: {0}")]
    NotFound(uuid::Uuid),
}

pub async fn find(pool: &sqlx::PgPool, id: uuid::Uuid) -> Result<Order, CoreError> {
    sqlx::query_as::<_, Order>("select id, customer, total_cents, created from orders where id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(CoreError::NotFound(id))
}
"""

MODULE = """use axum::{{Json, Router, extract::{{Path, Query, State}}, routing::get}};
use serde::{{Deserialize, Serialize}};

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Record{n} {{
    pub id: uuid::Uuid,
    pub name: String,
    pub amount_cents: i64,
    pub tags: serde_json::Value,
    pub note: Option<String>,
}}

#[derive(Debug, Deserialize)]
pub struct Filter{n} {{
    pub name: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}}

#[derive(Debug, Serialize)]
pub struct Page{n} {{
    pub items: Vec<Record{n}>,
    pub total: usize,
}}

async fn get_one(State(app): State<crate::App>, Path(id): Path<uuid::Uuid>) -> Result<Json<Record{n}>, String> {{
    sqlx::query_as::<_, Record{n}>("select id, name, amount_cents, tags, note from table_{n} where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .map(Json)
        .map_err(|e| e.to_string())
}}

async fn list(State(app): State<crate::App>, Query(filter): Query<Filter{n}>) -> Result<Json<Page{n}>, String> {{
    let items = sqlx::query_as::<_, Record{n}>(
        "select id, name, amount_cents, tags, note from table_{n} where ($1::text is null or name = $1) limit $2 offset $3",
    )
    .bind(filter.name)
    .bind(filter.limit.unwrap_or(50))
    .bind(filter.offset.unwrap_or(0))
    .fetch_all(&app.pool)
    .await
    .map_err(|e| e.to_string())?;
    let total = items.len();
    tracing::info!(module = {n}, total, "listed");
    Ok(Json(Page{n} {{ items, total }}))
}}

async fn upstream(State(app): State<crate::App>, Path(id): Path<uuid::Uuid>) -> Result<Json<serde_json::Value>, String> {{
    app.http
        .get(format!("http://upstream/{n}/{{id}}"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map(Json)
        .map_err(|e| e.to_string())
}}

pub fn routes() -> Router<crate::App> {{
    Router::new()
        .route("/m{n}", get(list))
        .route("/m{n}/{{id}}", get(get_one))
        .route("/m{n}/{{id}}/upstream", get(upstream))
}}
"""

MAIN = """use clap::Parser;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

{mods}

#[derive(Parser)]
struct Args {{
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    #[arg(long, env = "OTLP_ENDPOINT")]
    otlp: Option<String>,
}}

#[derive(Clone)]
pub struct App {{
    pool: sqlx::PgPool,
    http: reqwest::Client,
}}

#[tokio::main]
async fn main() -> anyhow::Result<()> {{
    let args = Args::parse();
    if args.otlp.is_some() {{
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic().build()?;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .build();
        use opentelemetry::trace::TracerProvider as _;
        let tracer = provider.tracer("svc-api");
        tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::from_default_env())
            .with(tracing_subscriber::fmt::layer().json())
            .with(tracing_opentelemetry::layer().with_tracer(tracer))
            .init();
    }}
    let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy(&args.database_url)?;
    let app = App {{ pool, http: reqwest::Client::new() }};
    let router = axum::Router::new()
{routes}
        .route("/orders/{{id}}", axum::routing::get(|axum::extract::State(app): axum::extract::State<App>, axum::extract::Path(id): axum::extract::Path<uuid::Uuid>| async move {{
            svc_core::find(&app.pool, id).await.map(axum::Json).map_err(|e| e.to_string())
        }}))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::cors::CorsLayer::permissive())
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    axum::serve(listener, router).await?;
    Ok(())
}}
"""

CLI_MAIN = """use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let body: serde_json::Value = reqwest::get(&args.url).await?.json().await?;
    println!("{body}");
    Ok(())
}
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--modules", type=int, default=40)
    args = parser.parse_args()
    root = Path(args.dir)
    files = {
        "Cargo.toml": WORKSPACE,
        "crates/core/Cargo.toml": CORE_TOML,
        "crates/core/src/lib.rs": CORE_LIB,
        "crates/api/Cargo.toml": API_TOML,
        "crates/cli/Cargo.toml": CLI_TOML,
        "crates/cli/src/main.rs": CLI_MAIN,
    }
    mods = "\n".join(f"mod m{n};" for n in range(args.modules))
    routes = "\n".join(f"        .merge(m{n}::routes())" for n in range(args.modules))
    files["crates/api/src/main.rs"] = MAIN.format(mods=mods, routes=routes)
    for n in range(args.modules):
        files[f"crates/api/src/m{n}.rs"] = MODULE.format(n=n)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if not (root / "Cargo.lock").exists():
        subprocess.run(["cargo", "generate-lockfile", "--quiet"], cwd=root, check=True)
    print(f"wrote {len(files)} files into {root}")


if __name__ == "__main__":
    main()
