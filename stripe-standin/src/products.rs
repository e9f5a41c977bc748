//! `/v1/products`.

use serde_json::{json, Value};

use crate::api::{self, Ctx};
use crate::error::ApiError;
use crate::params::{apply_metadata, new_metadata, Params};
use crate::{templates, ObjectKind};

const CREATE: &[&str] = &[
    "active",
    "default_price_data",
    "description",
    "expand",
    "id",
    "images",
    "marketing_features",
    "metadata",
    "name",
    "package_dimensions",
    "shippable",
    "statement_descriptor",
    "tax_code",
    "tax_details",
    "type",
    "unit_label",
    "url",
];

const UPDATE: &[&str] = &[
    "active",
    "default_price",
    "description",
    "expand",
    "images",
    "marketing_features",
    "metadata",
    "name",
    "package_dimensions",
    "shippable",
    "statement_descriptor",
    "tax_code",
    "tax_details",
    "unit_label",
    "url",
];

/// Known to Stripe, not modelled here.
const UNSUPPORTED: &[&str] = &["default_price_data", "package_dimensions", "tax_details"];

pub(crate) fn create(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    p.only(CREATE)?;
    let name = p.required_string("name")?;
    let product_type = p
        .enumeration("type", &["good", "service"])?
        .unwrap_or_else(|| "service".to_owned());
    let id = match p.string("id")? {
        Some(id) if !id.is_empty() => {
            if ctx.find(ObjectKind::Product, &id).is_some() {
                return Err(ApiError::invalid_param("id", "Product already exists.")
                    .code("resource_already_exists"));
            }
            id
        }
        _ => ctx.id("prod_", 14),
    };
    let mut product = templates::product(&id, ctx.livemode, ctx.now);
    product["name"] = json!(name);
    product["type"] = json!(product_type);
    product["metadata"] = new_metadata(p.metadata("metadata")?, "metadata")?;
    apply_common(&mut product, p)?;
    ctx.insert(ObjectKind::Product, product.clone());
    Ok(product)
}

pub(crate) fn update(ctx: &mut Ctx<'_>, p: &Params, id: &str) -> Result<Value, ApiError> {
    p.only(UPDATE)?;
    let mut product = ctx
        .find(ObjectKind::Product, id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("product", id))?;
    if p.has("name") {
        product["name"] = json!(p.required_string("name")?);
    }
    if let Some(update) = p.metadata("metadata")? {
        apply_metadata(&mut product["metadata"], update, "metadata")?;
    }
    if let Some(price_id) = p.string("default_price")? {
        if price_id.is_empty() {
            product["default_price"] = Value::Null;
        } else {
            let price = ctx
                .find(ObjectKind::Price, &price_id)
                .ok_or_else(|| ApiError::no_such_param("default_price", "price", &price_id))?;
            if price["product"] != id {
                return Err(ApiError::invalid_param(
                    "default_price",
                    format!("The price `{price_id}` does not belong to the product `{id}`."),
                ));
            }
            product["default_price"] = json!(price_id);
        }
    }
    apply_common(&mut product, p)?;
    product["updated"] = json!(ctx.now);
    ctx.replace(ObjectKind::Product, product.clone());
    Ok(product)
}

/// Fields that create and update treat alike.
fn apply_common(product: &mut Value, p: &Params) -> Result<(), ApiError> {
    if let Some(param) = UNSUPPORTED.iter().find(|k| p.has(k)) {
        return Err(ApiError::unsupported(param));
    }
    p.string_list("expand")?;
    if let Some(active) = p.bool("active")? {
        product["active"] = json!(active);
    }
    for (key, max) in [
        ("description", 40_000),
        ("statement_descriptor", 22),
        ("tax_code", 5_000),
        ("unit_label", 12),
        ("url", 5_000),
    ] {
        if let Some(value) = p.text(key, max)? {
            product[key] = json!(value);
        }
    }
    if let Some(shippable) = p.bool("shippable")? {
        product["shippable"] = json!(shippable);
    }
    if let Some(images) = p.string_list("images")? {
        if images.len() > 8 {
            return Err(ApiError::invalid_param(
                "images",
                "Invalid array: images can have at most 8 entries.",
            ));
        }
        product["images"] = json!(images);
    }
    if let Some(features) = p.list("marketing_features")? {
        let mut names = Vec::new();
        for feature in &features {
            feature.only(&["name"])?;
            names.push(json!({ "name": feature.required_string("name")? }));
        }
        product["marketing_features"] = Value::Array(names);
    }
    Ok(())
}

pub(crate) fn retrieve(ctx: &mut Ctx<'_>, p: &Params, id: &str) -> Result<Value, ApiError> {
    api::retrieve(ctx, p, ObjectKind::Product, "product", id)
}

pub(crate) fn list(ctx: &mut Ctx<'_>, p: &Params) -> Result<Value, ApiError> {
    p.only(&[
        "active",
        "created",
        "ending_before",
        "expand",
        "ids",
        "limit",
        "shippable",
        "starting_after",
        "url",
    ])?;
    let active = p.bool("active")?;
    let ids = p.string_list("ids")?;
    let shippable = p.bool("shippable")?;
    let url = p.string("url")?;
    api::list(
        ctx,
        p,
        ObjectKind::Product,
        "product",
        "/v1/products",
        |o| {
            active.is_none_or(|a| o["active"] == a)
                && ids
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|id| o["id"] == id.as_str()))
                && shippable.is_none_or(|s| o["shippable"] == s)
                && url.as_ref().is_none_or(|u| o["url"] == u.as_str())
        },
    )
}
