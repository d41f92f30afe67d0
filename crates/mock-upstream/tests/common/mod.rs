pub mod mock;
pub mod native;
