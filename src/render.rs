//! placeholder
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("x")]
    X,
}
