//! The core's errors. The server maps each variant to one HTTP status in one table.

use thiserror::Error;

/// What the store can fail with. Messages never carry SQL or connection details.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique value is already taken; `field` names it for the client.
    #[error("{field} `{value}` is already taken")]
    Duplicate { field: String, value: String },
    /// The row changed since it was read (optimistic concurrency).
    #[error("the record changed while it was being updated")]
    VersionConflict,
    /// A referenced row does not exist.
    #[error("{0} does not exist")]
    MissingReference(String),
    /// The database cannot be reached.
    #[error("the store is unavailable")]
    Unavailable(String),
    /// Anything else; the text is for logs only.
    #[error("internal store error")]
    Internal(String),
}

/// Errors of the domain, each a decision the client can understand.
#[derive(Debug, Error)]
pub enum CoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// Input that breaks a rule; `field` names where.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    /// Content larger than a configured limit (an attachment).
    #[error("{0}")]
    TooLarge(String),
    /// Content of a type Cairn does not accept (an attachment's media type).
    #[error("{0}")]
    UnsupportedType(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A failure that is ours, not the client's; logged, never echoed.
    #[error("internal error")]
    Internal(String),
}

impl CoreError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        CoreError::NotFound(what.into())
    }

    pub fn forbidden(what: impl Into<String>) -> Self {
        CoreError::Forbidden(what.into())
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
pub type StoreResult<T> = Result<T, StoreError>;
