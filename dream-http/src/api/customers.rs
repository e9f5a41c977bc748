//! Customer routes: create, read, update, delete and list end customers.

use dream_core::{NewCustomer, PasswordHash};
use poem::web::Data;
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};

use crate::header_token::IdempotencyKeyHeader;

use super::{customer_page, unknown_cursor, ApiTags};
use crate::{
    auth::SecretKeyAuth,
    body::JsonBody,
    dto::{
        CreateCustomerRequest, CustomerList, CustomerResponse, DeletedCustomer,
        UpdateCustomerRequest,
    },
    error::ApiResult,
    state::AppState,
};

/// End customers.
pub struct CustomersApi;

/// A created customer.
#[derive(ApiResponse)]
enum Created {
    /// Created.
    #[oai(status = 201)]
    Created(Json<CustomerResponse>),
}

async fn hash_password(
    state: &AppState,
    password: Option<String>,
) -> ApiResult<Option<PasswordHash>> {
    let Some(password) = password else {
        return Ok(None);
    };
    // The service's hasher bounds how many run at once (503 `busy` beyond that).
    Ok(Some(state.dream.hash_password(password).await?))
}

#[OpenApi(prefix_path = "/api/customers", tag = "ApiTags::Customers")]
impl CustomersApi {
    /// Create a customer.
    #[oai(path = "/", method = "post", operation_id = "createCustomer")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        body: JsonBody<CreateCustomerRequest>,
        /// Makes a retry safe: same key and body → same response.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<Created> {
        let req = body.0;
        let new = NewCustomer {
            external_id: req.external_id,
            email: req.email,
            first_name: req.first_name,
            last_name: req.last_name,
            plan: req.plan,
            password_hash: hash_password(&state, req.password).await?,
            metadata: req.metadata.unwrap_or_default(),
        };
        let customer = auth
            .dream(&state)
            .create_customer(auth.tenant(), new)
            .await?;
        Ok(Created::Created(Json(CustomerResponse {
            success: true,
            customer: customer.into(),
        })))
    }

    /// List customers, newest first, optionally by email prefix and plan.
    #[oai(path = "/", method = "get", operation_id = "listCustomers")]
    // poem-openapi takes each query parameter as an argument of its own.
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// Page size, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The last id of the previous page.
        #[oai(
            name = "startingAfter",
            validator(pattern = r"^usr_[0-9A-Za-z]{1,64}$")
        )]
        starting_after: Query<Option<String>>,
        /// Only customers whose email starts with this (ASCII letters compared
        /// case-insensitively), e.g. `ada@` or a whole address.
        #[oai(validator(min_length = 1, max_length = 254))]
        email: Query<Option<String>>,
        /// Only customers on this plan (a tier name).
        #[oai(validator(min_length = 1, max_length = 64))]
        plan: Query<Option<String>>,
        /// `newest` (default) or `oldest` first, by creation time.
        #[oai(validator(pattern = r"^(newest|oldest)$"))]
        order: Query<Option<String>>,
    ) -> ApiResult<Json<CustomerList>> {
        let page = customer_page(limit.0, starting_after.0)?;
        let filter = dream_core::CustomerQuery {
            email_prefix: email.0,
            plan: plan.0,
            oldest_first: order.0.as_deref() == Some("oldest"),
        };
        let page = state
            .dream
            .list_customers(auth.tenant(), &filter, &page)
            .await
            .map_err(unknown_cursor)?;
        Ok(Json(CustomerList {
            data: page.data.into_iter().map(Into::into).collect(),
            has_more: page.has_more,
        }))
    }

    /// Get a customer by our id or your external id.
    #[oai(path = "/:id", method = "get", operation_id = "getCustomer")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `usr_…` or your external id.
        id: Path<String>,
    ) -> ApiResult<Json<CustomerResponse>> {
        let customer = state.dream.customer(auth.tenant(), &id.0).await?;
        Ok(Json(CustomerResponse {
            success: true,
            customer: customer.into(),
        }))
    }

    /// Update a customer (plan changes apply to limits at once).
    #[oai(path = "/:id", method = "patch", operation_id = "updateCustomer")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `usr_…` or your external id.
        id: Path<String>,
        body: JsonBody<UpdateCustomerRequest>,
    ) -> ApiResult<Json<CustomerResponse>> {
        let customer = auth
            .dream(&state)
            .update_customer(auth.tenant(), &id.0, body.0.into())
            .await?;
        Ok(Json(CustomerResponse {
            success: true,
            customer: customer.into(),
        }))
    }

    /// Delete a customer.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteCustomer")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `usr_…` or your external id.
        id: Path<String>,
    ) -> ApiResult<Json<DeletedCustomer>> {
        let customer = auth
            .dream(&state)
            .delete_customer(auth.tenant(), &id.0)
            .await?;
        Ok(Json(DeletedCustomer {
            success: true,
            id: customer.id.to_string(),
            deleted: true,
        }))
    }
}
