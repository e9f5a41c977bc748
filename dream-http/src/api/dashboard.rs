//! Dashboard routes: the tenant snapshot, the event log and the customers CSV.

use poem::{web::Data, Body};
use poem_openapi::{
    param::Query,
    payload::{Binary, Json},
    ApiResponse, OpenApi,
};

use super::{audit_page, event_page, unknown_cursor, ApiTags};
use crate::{
    auth::SecretKeyAuth,
    csv::customers_csv,
    dto::{AuditEntryDto, AuditList, DashboardResponse, EventDto, EventList},
    error::ApiResult,
    state::AppState,
};

/// Dashboard, events and exports.
pub struct DashboardApi;

/// A CSV download.
#[derive(ApiResponse)]
enum Csv {
    /// RFC 4180 CSV, streamed page by page.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(
        Binary<Body>,
        /// Suggested file name.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Dashboard")]
impl DashboardApi {
    /// Platform snapshot: customers, usage, tiers, MRR, churn and recent events.
    #[oai(path = "/dashboard", method = "get", operation_id = "getDashboard")]
    async fn dashboard(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
    ) -> ApiResult<Json<DashboardResponse>> {
        Ok(Json(state.dream.dashboard(auth.tenant()).await?.into()))
    }

    /// List events, newest first.
    #[oai(path = "/events", method = "get", operation_id = "listEvents")]
    async fn events(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// Page size, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The last id of the previous page.
        #[oai(
            name = "startingAfter",
            validator(pattern = r"^evt_[0-9A-Za-z]{1,64}$")
        )]
        starting_after: Query<Option<String>>,
        /// Only events about this customer (`usr_…` or your external id).
        #[oai(validator(min_length = 1, max_length = 255))]
        customer: Query<Option<String>>,
    ) -> ApiResult<Json<EventList>> {
        let page = event_page(limit.0, starting_after.0)?;
        let page = match customer.0 {
            Some(reference) => state
                .dream
                .customer_events(auth.tenant(), &reference, &page)
                .await
                .map_err(|err| match err {
                    // An unknown customer is a 404; any other missing object is
                    // the cursor.
                    dream_core::CoreError::NotFound("customer") => err.into(),
                    other => unknown_cursor(other),
                })?,
            None => state
                .dream
                .list_events(auth.tenant(), &page)
                .await
                .map_err(unknown_cursor)?,
        };
        Ok(Json(EventList {
            data: page.data.into_iter().map(EventDto::from).collect(),
            has_more: page.has_more,
        }))
    }

    /// The audit log, newest first: who changed what (keys, tiers, Stripe, webhook
    /// endpoints, customers, settings), in this key's mode and platform-wide.
    #[oai(path = "/audit", method = "get", operation_id = "listAuditEntries")]
    async fn audit(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// Page size, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The last id of the previous page.
        #[oai(
            name = "startingAfter",
            validator(pattern = r"^aud_[0-9A-Za-z]{1,64}$")
        )]
        starting_after: Query<Option<String>>,
    ) -> ApiResult<Json<AuditList>> {
        let page = audit_page(limit.0, starting_after.0)?;
        let tenant = auth.tenant();
        let page = state
            .dream
            .audit_log(&tenant.platform, Some(tenant.mode), &page)
            .await
            .map_err(unknown_cursor)?;
        Ok(Json(AuditList {
            data: page.data.into_iter().map(AuditEntryDto::from).collect(),
            has_more: page.has_more,
        }))
    }

    /// Export all customers as CSV, with this period's usage.
    #[oai(
        path = "/dashboard/customers.csv",
        method = "get",
        operation_id = "exportCustomersCsv"
    )]
    async fn export(&self, state: Data<&AppState>, auth: SecretKeyAuth) -> ApiResult<Csv> {
        let body =
            Body::from_bytes_stream(customers_csv(state.dream.clone(), auth.tenant().clone()));
        Ok(Csv::Ok(
            Binary(body),
            "attachment; filename=\"customers.csv\"".into(),
        ))
    }
}
