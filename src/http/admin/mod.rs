//! The management API (admin scope): one module per resource, each parsing a request body
//! into domain types before anything is stored, so a bad field is a 4xx naming it and
//! changes nothing; every `PATCH` goes through one flow (`patch.rs`).

pub mod api_keys;
pub mod campaigns;
pub mod codes;
pub mod costs;
pub mod enrollments;
pub mod influencers;
pub mod links;
mod patch;
pub mod posts;

use actix_web::web;

use super::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/campaigns")
            .post(campaigns::create)
            .get(campaigns::list),
    )
    .service(
        resource("/campaigns/{id}")
            .get(campaigns::get)
            .patch(campaigns::patch),
    )
    .service(
        resource("/campaigns/{id}/enrollments")
            .post(enrollments::create)
            .get(enrollments::list),
    )
    .service(
        resource("/campaigns/{id}/enrollments/{influencer_id}")
            .get(enrollments::get)
            .patch(enrollments::patch),
    )
    .service(resource("/campaigns/{id}/links/generate").post(links::generate))
    .service(resource("/campaigns/{id}/reattribute").post(campaigns::reattribute))
    .service(
        resource("/influencers")
            .post(influencers::create)
            .get(influencers::list),
    )
    .service(
        resource("/influencers/{id}")
            .get(influencers::get)
            .patch(influencers::patch),
    )
    .service(resource("/links").post(links::create).get(links::list))
    .service(
        resource("/links/{id}")
            .get(links::get)
            .patch(links::patch)
            .delete(links::delete),
    )
    .service(resource("/codes/generate").post(codes::generate))
    .service(resource("/codes").post(codes::create).get(codes::list))
    .service(
        resource("/codes/{code}")
            .get(codes::get)
            .patch(codes::patch),
    )
    .service(resource("/posts").post(posts::create).get(posts::list))
    .service(resource("/posts/{id}").get(posts::get))
    .service(
        resource("/posts/{id}/metrics")
            .post(posts::add_snapshot)
            .get(posts::list_snapshots),
    )
    .service(resource("/costs").post(costs::create).get(costs::list))
    .service(
        resource("/api-keys")
            .post(api_keys::create)
            .get(api_keys::list),
    )
    .service(resource("/api-keys/{id}").delete(api_keys::revoke));
}
