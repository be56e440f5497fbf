//! REST handlers under `/api/v1`. Each takes the [`Caller`](crate::extract::Caller) extractor
//! (or says why it needs none), calls the core, and returns JSON.

pub mod audit;
pub mod communities;
pub mod documents;
pub mod feedback;
pub mod meta;
pub mod objects;
pub mod organizations;
pub mod release;
pub mod search;
pub mod users;
