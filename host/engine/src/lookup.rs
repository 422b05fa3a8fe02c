//! Looking things up without managing them: `roster get` (one object) and `roster query` (a data
//! source), through the provider's pacer and the same retry policy as plan and apply.

use crate::pacing::{no_wait_report, with_retry};
use crate::workspace::Workspace;
use anyhow::{anyhow, Result};
use serde_json::{Map, Value};

/// The object `id` of `type_name` as its vendor reports it (`None`: it does not exist).
pub async fn get(ws: &Workspace, type_name: &str, id: &str) -> Result<Option<Map<String, Value>>> {
    let (provider, _) = ws
        .provider_for_type(type_name)
        .ok_or_else(|| anyhow!("no declared provider offers resource type `{type_name}`"))?;
    crate::plan::read(ws, provider, type_name, id, &no_wait_report).await
}

/// What the data source `data_source` answers for `arguments`.
pub async fn query(
    ws: &Workspace,
    data_source: &str,
    arguments: &Map<String, Value>,
) -> Result<Value> {
    let handle = ws
        .providers
        .values()
        .find(|h| {
            h.provider
                .metadata()
                .data_sources
                .iter()
                .any(|d| d.name == data_source)
        })
        .ok_or_else(|| anyhow!("no declared provider offers data source `{data_source}`"))?;
    let (result, _) = with_retry(
        &handle.pacer,
        &ws.retry,
        &no_wait_report,
        || handle.provider.query(data_source, arguments),
        || async { Ok(None) },
    )
    .await;
    result.map_err(|e| anyhow!("{data_source}: {e}"))
}
