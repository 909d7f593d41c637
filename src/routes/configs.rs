//! `/api/v1/organizations/telephony-configs` and the providers' metadata (API.md §4).

use actix_web::{web, HttpRequest, HttpResponse};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::caller::Caller;
use super::extract::path::{ConfigPath, ForceQuery};
use super::extract::{page_query, query_flag, Body, FromBody, PathIds};
use super::lists::{self, Listed, PageQuery};
use super::openapi::{PayloadTooLarge, Unavailable, ValidationFailed};
use super::{to_the_end, ErrorDetail};
use crate::db::{self, Unique};
use crate::domain::credentials::{Credentials, ProviderChanged};
use crate::domain::ids::{ConfigId, OrgId};
use crate::domain::input::{Need, Patch, Reader, Text};
use crate::domain::phone_number::SyncResult;
use crate::domain::provider::{self, connectivity_schema, Metadata, SetupChecklist, METADATA_JSON};
use crate::domain::trunk::{sip_connectivity, SipConnectivityDetails};
use crate::error::ApiError;
use crate::records::{find_config as find, routing_conflict, CONFIG_NOT_FOUND};
use crate::state::AppState;

const NAME: Text = Text::name(64);

#[derive(ToSchema)]
#[schema(as = TelephonyConfigurationCreateRequest)]
pub struct CreateConfig {
    /// Trimmed; unique in the organization.
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    /// Makes it the organization's one default outbound configuration.
    #[schema(required = false, default = false)]
    is_default_outbound: bool,
    #[schema(inline)]
    config: Credentials,
}

/// Absent or null: unchanged.
#[derive(ToSchema)]
#[schema(as = TelephonyConfigurationUpdateRequest)]
pub struct UpdateConfig {
    #[schema(min_length = 1, max_length = 64)]
    name: Option<String>,
    /// Replaces the credentials; a masked value as read keeps the stored
    /// secret. The provider cannot change (400).
    #[schema(inline)]
    config: Option<Credentials>,
}

/// `config`: the provider union; `None` when absent or null (and `required` not set).
fn read_config(r: &mut Reader, f: &crate::domain::input::Fields, required: bool) -> Option<Credentials> {
    match f.get("config") {
        Patch::Value(v) => Credentials::read(v, f.loc("config"), r),
        Patch::Absent if required => {
            r.error("missing", f.loc("config"), "Field required", f.whole().clone(), None);
            None
        }
        Patch::Null if required => {
            r.object(&Value::Null, f.loc("config"));
            None
        }
        _ => None,
    }
}

impl FromBody for CreateConfig {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        let name = r.text(&f, "name", Need::Required, NAME);
        let is_default_outbound = r.bool(&f, "is_default_outbound", Need::Optional).unwrap_or(false);
        let config = read_config(r, &f, true);
        r.map_inputs(provider::redact_input);
        Some(CreateConfig {
            name: name?,
            is_default_outbound,
            config: config?,
        })
    }
}

impl FromBody for UpdateConfig {
    fn from_body(body: &Value, r: &mut Reader) -> Option<Self> {
        let f = r.object(body, vec!["body".into()])?;
        let name = r.text(&f, "name", Need::Optional, NAME);
        let config = read_config(r, &f, false);
        r.map_inputs(provider::redact_input);
        Some(UpdateConfig { name, config })
    }
}

fn name_taken(name: &str) -> ApiError {
    ApiError::conflict(format!(
        "A telephony configuration named '{name}' already exists in this organization. Pick a different name."
    ))
}

/// Maps the name index's violation to its 409; everything else stays a 500.
fn unique_name(name: &str) -> impl Fn(rusqlite::Error) -> ApiError + '_ {
    move |e| match db::violated(&e) {
        Some(Unique::ConfigName) => name_taken(name),
        _ => e.into(),
    }
}

/// A configuration as listed.
#[derive(Serialize, ToSchema)]
#[schema(as = TelephonyConfigurationListItem)]
pub struct ListItem {
    #[schema(value_type = i64)]
    id: ConfigId,
    name: String,
    #[schema(schema_with = provider_schema)]
    provider: &'static str,
    #[schema(schema_with = connectivity_schema, required = false)]
    connectivity: &'static str,
    is_default_outbound: bool,
    /// Parked (`telebind configs deactivate`): takes no inbound calls until reactivated.
    #[schema(required = false)]
    inactive: bool,
    #[schema(format = DateTime)]
    inactive_since: Option<String>,
    inactive_reason: Option<String>,
    /// Active phone numbers.
    #[schema(required = false)]
    phone_number_count: i64,
    #[schema(required = false)]
    is_ready_for_outbound: bool,
    outbound_blocked_reason: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// A configuration with its masked credentials.
#[derive(Serialize, ToSchema)]
#[schema(as = TelephonyConfigurationDetail)]
pub struct Detail {
    #[schema(value_type = i64)]
    id: ConfigId,
    name: String,
    #[schema(schema_with = provider_schema)]
    provider: &'static str,
    #[schema(schema_with = connectivity_schema, required = false)]
    connectivity: &'static str,
    is_default_outbound: bool,
    /// Parked (`telebind configs deactivate`): takes no inbound calls until reactivated.
    #[schema(required = false)]
    inactive: bool,
    #[schema(format = DateTime)]
    inactive_since: Option<String>,
    inactive_reason: Option<String>,
    /// The provider's fields as stored, sensitive values masked
    /// (`"*" × (len − 4)` then the last 4 characters).
    #[schema(value_type = Object)]
    credentials: Value,
    /// Where the carrier sends the configuration's calls and expects them
    /// from; null but for a Cloudonix domain whose UUID is known.
    sip_connectivity: Option<SipConnectivityDetails>,
    /// Null for ARI, which needs no setup.
    setup_checklist: Option<SetupChecklist>,
    /// Whether the provider has SIP trunks (Cloudonix).
    #[schema(required = false)]
    supports_trunks: bool,
    /// The configuration's trunks; empty for providers without.
    #[schema(required = false)]
    trunks: Vec<db::trunks::Trunk>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// The provider names, in the order the metadata lists them.
fn provider_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(provider::ProviderKind::ALL.map(|k| k.as_str())))
        .build()
}

fn list_item(c: &db::configs::Config) -> ListItem {
    let kind = c.credentials.kind();
    let (ready, blocked) = readiness(c);
    ListItem {
        id: c.id,
        name: c.name.clone(),
        provider: kind.as_str(),
        connectivity: kind.connectivity(),
        is_default_outbound: c.is_default_outbound,
        inactive: c.inactive,
        inactive_since: c.inactive_since.clone(),
        inactive_reason: c.inactive_reason.clone(),
        phone_number_count: c.setup.active_numbers,
        is_ready_for_outbound: ready,
        outbound_blocked_reason: blocked,
        created_at: c.created_at.clone(),
        updated_at: c.updated_at.clone(),
    }
}

fn detail(c: db::configs::Config, trunks: Vec<db::trunks::Trunk>) -> Detail {
    let kind = c.credentials.kind();
    Detail {
        id: c.id,
        sip_connectivity: sip_connectivity(&c.credentials),
        setup_checklist: checklist(&c),
        supports_trunks: kind.supports_trunks(),
        trunks,
        name: c.name,
        provider: kind.as_str(),
        connectivity: kind.connectivity(),
        is_default_outbound: c.is_default_outbound,
        inactive: c.inactive,
        inactive_since: c.inactive_since,
        inactive_reason: c.inactive_reason,
        credentials: c.credentials.display(),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

fn checklist(c: &db::configs::Config) -> Option<SetupChecklist> {
    c.credentials
        .kind()
        .setup_checklist(&c.setup, c.credentials.connected())
}

/// `is_ready_for_outbound` and `outbound_blocked_reason` of a list item: the
/// checklist's, except that a parked configuration places no calls (W16).
fn readiness(c: &db::configs::Config) -> (bool, Option<String>) {
    if c.inactive {
        let reason = c.inactive_reason.as_deref().unwrap_or_default();
        let text = format!("This configuration is inactive: {reason}. Reactivate it to place calls.");
        return (false, Some(text));
    }
    match checklist(c) {
        Some(list) => (list.ready_for_outbound, list.outbound_blocked_reason),
        None => (true, None),
    }
}

/// The caller's configuration `id` as its Detail, with its trunks when its
/// provider has any (no trunk query otherwise).
fn find_detail(conn: &Connection, org_id: OrgId, id: ConfigId) -> Result<Detail, ApiError> {
    let config = find(conn, org_id, id)?;
    let trunks = match config.credentials.kind().supports_trunks() {
        true => db::trunks::list(conn, id)?,
        false => Vec::new(),
    };
    Ok(detail(config, trunks))
}

/// `GET /telephony-config-warnings` (TRUNKS.md §4).
#[derive(Debug, Serialize, ToSchema)]
pub struct TelephonyConfigWarningsResponse {
    pub telnyx_missing_webhook_public_key_count: usize,
    pub vonage_missing_signature_secret_count: usize,
}

/// `GET …/telephony-configs`' body (`lists::respond` writes it).
#[derive(ToSchema)]
#[schema(as = TelephonyConfigurationListResponse)]
pub struct ListResponse {
    pub configurations: Vec<ListItem>,
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/telephony-providers/metadata",
    operation_id = "get_telephony_providers_metadata",
    tag = "telephony configurations",
    summary = "The providers and the fields of their configuration forms",
    responses((status = 200, description = "Sorted by provider", body = Metadata))
)]
pub async fn metadata(_: Caller) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(METADATA_JSON)
}

impl Listed for ListItem {
    type Id = ConfigId;
    fn list_id(&self) -> ConfigId {
        self.id
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/telephony-configs",
    operation_id = "list_telephony_configurations",
    tag = "telephony configurations",
    summary = "List the organization's configurations",
    description = "Ordered by creation time, then id. Without parameters, the whole list.",
    params(PageQuery),
    responses(
        (status = 200, description = "Successful Response", body = ListResponse, headers(("Link" = String, description = "`<…?limit=…&after_id=…>; rel=\"next\"` when more items follow the page"))),
        (status = 400, description = "The query string could not be read", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
    )
)]
pub async fn list(caller: Caller, state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let page = page_query(&req)?;
    lists::respond(&state, &req, "configurations", page, move |c, page| {
        let configs = db::configs::list(c, caller.org_id, page)?;
        Ok(configs.iter().map(list_item).collect())
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/telephony-configs/{config_id}",
    operation_id = "get_telephony_configuration_by_id",
    tag = "telephony configurations",
    summary = "Get a configuration",
    params(ConfigPath),
    responses(
        (status = 200, description = "Successful Response", body = Detail),
        (status = 404, description = "`Telephony configuration not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
    )
)]
pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ConfigId>,
) -> Result<HttpResponse, ApiError> {
    // Not a point read: the checklist counts the configuration's numbers.
    let detail = state.read(move |c| find_detail(c, caller.org_id, id)).await?;
    Ok(HttpResponse::Ok().json(detail))
}

/// The 409 of a taken name, before anything is made at the carrier: a
/// refused save must leave nothing behind there (the insert checks again).
async fn check_name(state: &AppState, org_id: OrgId, name: &str, id: Option<ConfigId>) -> Result<(), ApiError> {
    let name = name.to_string();
    state
        .point(move |c| match db::configs::name_taken(c, org_id, &name, id)? {
            true => Err(name_taken(&name)),
            false => Ok(()),
        })
        .await
}

/// Runs save-time provisioning off the async workers; a failure refuses the save.
async fn provision(state: &AppState, mut credentials: Credentials) -> Result<Credentials, ApiError> {
    let carriers = state.carriers.clone();
    let (result, credentials) = web::block(move || (carriers.provision(&mut credentials), credentials)).await?;
    result?;
    Ok(credentials)
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/telephony-configs",
    operation_id = "create_telephony_configuration",
    tag = "telephony configurations",
    summary = "Create a configuration",
    request_body = CreateConfig,
    responses(
        (status = 200, description = "Successful Response", body = Detail),
        (status = 400, description = "The body could not be read, or the carrier refused save-time provisioning with a 400", body = ErrorDetail),
        (status = 409, description = "`A telephony configuration named '<name>' already exists in this organization. Pick a different name.`", body = ErrorDetail),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = ValidationFailed),
        (status = 502, description = "Save-time provisioning could not reach the carrier or read its answer", body = ErrorDetail),
        (status = 503, response = Unavailable),
        (status = "4XX", description = "The carrier refused save-time provisioning (PROVIDERS.md §3): its own status, `Failed to auto-create …: HTTP <status> <body>`", body = ErrorDetail),
        (status = "5XX", description = "As 4XX, for a carrier's 5xx", body = ErrorDetail),
    )
)]
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    Body(body, _): Body<CreateConfig>,
) -> Result<HttpResponse, ApiError> {
    let CreateConfig {
        name,
        is_default_outbound,
        mut config,
    } = body;
    config.mint();
    check_name(&state, caller.org_id, &name, None).await?;
    let config = provision(&state, config).await?;
    let created = state
        .write(move |c| {
            let id = db::configs::insert(c, caller.org_id, &name, &config).map_err(unique_name(&name))?;
            if is_default_outbound {
                db::configs::set_default_outbound(c, caller.org_id, id)?;
            }
            find_detail(c, caller.org_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(created))
}

#[utoipa::path(
    put,
    path = "/api/v1/organizations/telephony-configs/{config_id}",
    operation_id = "update_telephony_configuration",
    tag = "telephony configurations",
    summary = "Rename a configuration or replace its credentials",
    params(ConfigPath),
    request_body = UpdateConfig,
    responses(
        (status = 200, description = "Successful Response", body = Detail),
        (status = 400, description = "`Provider cannot be changed; create a new configuration instead.`, the body could not be read, or the carrier refused save-time provisioning with a 400", body = ErrorDetail),
        (status = 404, description = "`Telephony configuration not found`", body = ErrorDetail),
        (status = 409, description = "The name is taken, or the new routing account would put a number's routing key in two places", body = ErrorDetail),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = ValidationFailed),
        (status = 502, description = "Save-time provisioning could not reach the carrier or read its answer", body = ErrorDetail),
        (status = 503, response = Unavailable),
        (status = "4XX", description = "The carrier refused save-time provisioning (PROVIDERS.md §3): its own status, `Failed to auto-create …: HTTP <status> <body>`", body = ErrorDetail),
        (status = "5XX", description = "As 4XX, for a carrier's 5xx", body = ErrorDetail),
    )
)]
pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    Body(body, id): Body<UpdateConfig, ConfigId>,
) -> Result<HttpResponse, ApiError> {
    let org_id = caller.org_id;
    // Trunk work reads these credentials and records what the carrier made under them.
    let _turn = state.config_locks.lock(id).await;
    let stored = state.read(move |c| find(c, org_id, id)).await?;
    let name = body.name.unwrap_or(stored.name);
    check_name(&state, org_id, &name, Some(id)).await?;
    let credentials = match body.config {
        Some(submitted) => {
            let merged = submitted.update_over(&stored.credentials).map_err(|ProviderChanged| {
                ApiError::bad_request("Provider cannot be changed; create a new configuration instead.")
            })?;
            provision(&state, merged).await?
        }
        None => stored.credentials,
    };
    let updated = state
        .write(move |c| {
            let current = find(c, org_id, id)?;
            db::configs::update(c, org_id, id, &name, &credentials).map_err(unique_name(&name))?;
            if credentials.routing_account() != current.credentials.routing_account() {
                follow_routing_account(c, org_id, id, &credentials)?;
                forget_carrier_trunks(c, id)?;
            }
            find_detail(c, org_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Moves the configuration's numbers to its new routing account, in the
/// update's transaction; a key held elsewhere refuses the whole update.
fn follow_routing_account(
    conn: &Connection,
    org_id: OrgId,
    id: ConfigId,
    credentials: &Credentials,
) -> Result<(), ApiError> {
    let (kind, account) = (credentials.kind().as_str(), credentials.routing_account());
    match db::phone_numbers::set_routing_account(conn, id, account) {
        Err(e) if db::violated(&e) == Some(Unique::RoutingKey) => {
            for address in db::phone_numbers::addresses(conn, id)? {
                if let Some(holder) = db::phone_numbers::routing_holder(conn, kind, account, &address, Some(id))? {
                    return Err(routing_conflict(&holder, org_id));
                }
            }
            Err(e.into())
        }
        other => Ok(other?),
    }
}

/// A new account's carrier knows nothing of the trunks recorded under the
/// old one (W12): they are provisioned there at their next update, and the
/// old account's stay as they are.
fn forget_carrier_trunks(conn: &Connection, id: ConfigId) -> Result<(), ApiError> {
    let forgotten = db::trunks::forget_external_ids(conn, id)?;
    if forgotten > 0 {
        log::info!(
            "telephony configuration {id}: its account changed; {forgotten} trunk(s) no longer name their carrier \
             trunks on the old account, which stay as they are; each is provisioned on the new account at its next update"
        );
    }
    Ok(())
}

/// Deleting a configuration with numbers would leave the carriers' webhooks
/// pointing at us (the reference cascades).
fn refuse_numbers(conn: &Connection, id: ConfigId) -> Result<(), ApiError> {
    match db::phone_numbers::count_for_config(conn, id)? {
        0 => Ok(()),
        numbers => Err(ApiError::conflict(format!(
            "Telephony configuration has {numbers} phone number(s). Delete them first."
        ))),
    }
}

/// What deleting a configuration answers.
#[derive(Serialize, ToSchema)]
#[schema(as = TelephonyConfigurationDeleteResponse)]
pub struct Deleted {
    pub message: &'static str,
    /// The deactivation of its carrier trunks; null when no carrier was asked.
    pub provider_sync: Option<SyncResult>,
}

/// Deactivates the configuration's carrier trunks first (W11): a failure
/// refuses the delete unless `?force=true`, which deletes anyway and says
/// so in `provider_sync` (`null`: no carrier was asked).
#[utoipa::path(
    delete,
    path = "/api/v1/organizations/telephony-configs/{config_id}",
    operation_id = "delete_telephony_configuration",
    tag = "telephony configurations",
    summary = "Delete a configuration that has no phone numbers, deactivating its carrier trunks first",
    params(ConfigPath, ForceQuery),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 404, description = "`Telephony configuration not found`", body = ErrorDetail),
        (status = 409, description = "`Telephony configuration has N phone number(s). Delete them first.`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
        (status = 502, description = "A carrier trunk could not be deactivated (without `force`)", body = ErrorDetail),
        (status = 503, response = Unavailable),
    )
)]
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ConfigId>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let force = query_flag(&req, "force")?;
    let org_id = caller.org_id;
    to_the_end(async move {
        let _turn = state.config_locks.lock(id).await;
        let (credentials, provisioned) = state
            .read(move |c| {
                let config = find(c, org_id, id)?;
                refuse_numbers(c, id)?;
                let trunks = db::trunks::list(c, id)?;
                let provisioned: Vec<String> = trunks.into_iter().filter_map(|t| t.external_id).collect();
                Ok((config.credentials, provisioned))
            })
            .await?;
        let provider_sync = match provisioned.is_empty() {
            true => None,
            false => {
                let carriers = state.carriers.clone();
                match web::block(move || carriers.remove_trunks(&credentials, &provisioned)).await? {
                    Ok(()) => Some(SyncResult::ok()),
                    Err(e) if force => Some(SyncResult::failed(e.detail)),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        state
            .write(move |c| {
                find(c, org_id, id)?;
                refuse_numbers(c, id)?;
                db::configs::delete(c, org_id, id)?;
                Ok(())
            })
            .await?;
        Ok(HttpResponse::Ok().json(Deleted {
            message: "Telephony configuration deleted",
            provider_sync,
        }))
    })
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/telephony-configs/{config_id}/set-default-outbound",
    operation_id = "set_default_outbound",
    tag = "telephony configurations",
    summary = "Make a configuration the organization's default outbound one",
    params(ConfigPath),
    responses(
        (status = 200, description = "Successful Response", body = Detail),
        (status = 404, description = "`Telephony configuration not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    )
)]
pub async fn set_default_outbound(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ConfigId>,
) -> Result<HttpResponse, ApiError> {
    let config = state
        .write(move |c| {
            find(c, caller.org_id, id)?;
            db::configs::set_default_outbound(c, caller.org_id, id)?;
            find_detail(c, caller.org_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(config))
}

/// Clears `inactive` and answers with the Detail of the row it updated, in
/// one transaction: a re-park meanwhile cannot turn it into a 404 (W20).
/// There is no body; whatever is sent is not read.
#[utoipa::path(
    post,
    path = "/api/v1/organizations/telephony-configs/{config_id}/reactivate",
    operation_id = "reactivate_telephony_configuration",
    tag = "telephony configurations",
    summary = "Take a configuration back into service",
    params(ConfigPath),
    responses(
        (status = 200, description = "Successful Response", body = Detail),
        (status = 404, description = "`Telephony configuration not found`", body = ErrorDetail),
        (status = 422, response = ValidationFailed),
        (status = 503, response = Unavailable),
    )
)]
pub async fn reactivate(
    caller: Caller,
    state: web::Data<AppState>,
    PathIds(id): PathIds<ConfigId>,
) -> Result<HttpResponse, ApiError> {
    let detail = state
        .write(move |c| {
            if !db::configs::set_inactive(c, Some(caller.org_id), id, None)? {
                return Err(ApiError::not_found(CONFIG_NOT_FOUND));
            }
            find_detail(c, caller.org_id, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail))
}

/// Counts of the caller's configurations whose webhooks cannot be verified
/// for want of a secret (TRUNKS.md §4); parked ones count.
#[utoipa::path(
    get,
    path = "/api/v1/organizations/telephony-config-warnings",
    operation_id = "get_telephony_config_warnings",
    tag = "telephony configurations",
    summary = "How many configurations cannot verify their carriers' webhooks",
    responses(
        (status = 200, description = "Successful Response", body = TelephonyConfigWarningsResponse),
    )
)]
pub async fn warnings(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let signers = state
        .read(move |c| Ok(db::configs::webhook_signers(c, caller.org_id)?))
        .await?;
    let missing = |kind| {
        signers
            .iter()
            .filter(|c| c.kind() == kind && c.webhook_secret_missing())
            .count()
    };
    Ok(HttpResponse::Ok().json(TelephonyConfigWarningsResponse {
        telnyx_missing_webhook_public_key_count: missing(provider::ProviderKind::Telnyx),
        vonage_missing_signature_secret_count: missing(provider::ProviderKind::Vonage),
    }))
}
