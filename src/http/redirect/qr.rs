//! `GET /{slug}/qr.svg` and `/{slug}/qr.png`: a QR code of the short URL with `?qr=1`, so
//! scans are told apart from taps in the click data.

use actix_web::{http::header, web, HttpRequest, HttpResponse, ResponseError};
use qrcode::{render::svg, Color, EcLevel, QrCode};

use crate::{
    domain::slug::LinkSlug,
    http::{
        error::{ApiError, Body as ErrorBody},
        rate_limit::MissLimits,
    },
    state::AppState,
};

/// The image formats of `/{slug}/qr.{format}`.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum QrFormat {
    Svg,
    Png,
}

/// Pixels per module in the PNG, and the quiet zone around the code in modules.
const PNG_SCALE: usize = 8;
const QUIET_ZONE: usize = 4;

/// A QR code of the short URL (with `qr=1`, so scans are told apart from taps).
#[utoipa::path(
    get,
    path = "/{slug}/qr.{format}",
    tag = "redirect",
    params(
        ("slug" = String, Path, description = "The short link's slug."),
        ("format" = QrFormat, Path, description = "The image format."),
    ),
    responses(
        (status = 200, description = "The image.", content((String = "image/svg+xml"), (Vec<u8> = "image/png"))),
        (status = 404, description = "No link has this slug, or no such format (`not_found`).", body = ErrorBody),
    )
)]
pub async fn image(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, format) = path.into_inner();
    let Ok(slug) = LinkSlug::parse(&slug) else {
        return ApiError::not_found("link").error_response();
    };
    let found = match state.links.peek(slug.as_str()) {
        Some(fresh) => {
            state.metrics.link_cache_hits.inc();
            Ok(fresh)
        }
        None => match state.misses.refuse_lookup(&req) {
            Some(limited) => return limited.error_response(),
            None => {
                state.metrics.link_cache_misses.inc();
                state.links.get(&slug).await
            }
        },
    };
    match found {
        Ok(Some(_)) => {}
        Ok(None) => return state.misses.not_found(&req, "link"),
        Err(e) => return super::lookup_failed(&e),
    }
    let target = format!("{}?qr=1", state.settings.short_url(slug.as_str()));
    let Ok(code) = QrCode::with_error_correction_level(target.as_bytes(), EcLevel::M) else {
        return ApiError::internal("short URL too long for a QR code").error_response();
    };
    let (content_type, body) = match format.as_str() {
        "svg" => ("image/svg+xml", svg_of(&code).into_bytes()),
        "png" => match png_of(&code) {
            Ok(bytes) => ("image/png", bytes),
            Err(e) => return ApiError::internal(e).error_response(),
        },
        _ => return ApiError::not_found("image format").error_response(),
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

fn svg_of(code: &QrCode) -> String {
    code.render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build()
}

fn png_of(code: &QrCode) -> Result<Vec<u8>, png::EncodingError> {
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (index % modules + QUIET_ZONE, index / modules + QUIET_ZONE);
        for y in my * PNG_SCALE..(my + 1) * PNG_SCALE {
            pixels[y * side + mx * PNG_SCALE..y * side + (mx + 1) * PNG_SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    let side_u32 = u32::try_from(side).unwrap_or(u32::MAX);
    let mut encoder = png::Encoder::new(&mut out, side_u32, side_u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&pixels)?;
    Ok(out)
}
