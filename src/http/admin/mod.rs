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

use super::routes::{at, Endpoint};

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        at("/campaigns")
            .post(campaigns::create)
            .get(campaigns::list),
        at("/campaigns/{id}")
            .get(campaigns::get)
            .patch(campaigns::patch),
        at("/campaigns/{id}/enrollments")
            .post(enrollments::create)
            .get(enrollments::list),
        at("/campaigns/{id}/enrollments/{influencer_id}")
            .get(enrollments::get)
            .patch(enrollments::patch),
        at("/campaigns/{id}/links/generate").post(links::generate),
        at("/campaigns/{id}/reattribute").post(campaigns::reattribute),
        at("/influencers")
            .post(influencers::create)
            .get(influencers::list),
        at("/influencers/{id}")
            .get(influencers::get)
            .patch(influencers::patch),
        at("/links").post(links::create).get(links::list),
        at("/links/{id}")
            .get(links::get)
            .patch(links::patch)
            .delete(links::delete),
        at("/codes/generate").post(codes::generate),
        at("/codes").post(codes::create).get(codes::list),
        at("/codes/{code}").get(codes::get).patch(codes::patch),
        at("/posts").post(posts::create).get(posts::list),
        at("/posts/{id}").get(posts::get),
        at("/posts/{id}/metrics")
            .post(posts::add_snapshot)
            .get(posts::list_snapshots),
        at("/costs").post(costs::create).get(costs::list),
        at("/api-keys").post(api_keys::create).get(api_keys::list),
        at("/api-keys/{id}").delete(api_keys::revoke),
    ]
}
